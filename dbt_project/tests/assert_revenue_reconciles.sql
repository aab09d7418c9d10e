-- Revenue in the marts equals revenue in the payment facts, and facts equal staging.
with

facts as (

    select
        sum(signed_amount_krw) as net_krw,
        sum(amount_krw) filter (where payment_type = 'charge') as gross_krw,
        count(*) as payments

    from {{ ref('fct_payments') }}

),

daily as (

    select sum(net_revenue_krw) as net_krw, sum(net_cash_krw) as cash_krw, sum(gross_revenue_krw) as gross_krw
    from {{ ref('kpi_daily') }}

),

campaigns as (

    select sum(revenue_to_date_krw) as net_krw from {{ ref('campaign_performance') }}

),

acquired as (

    select sum(payments.signed_amount_krw) as net_krw
    from {{ ref('fct_payments') }} as payments
    inner join {{ ref('dim_users') }} as users on payments.user_id = users.user_id
    where users.acquisition_campaign_id is not null

),

staged as (

    select count(*) as payments from {{ ref('stg_payments') }}

)

select 'daily net' as check_name, facts.net_krw, daily.net_krw as other from facts, daily
where facts.net_krw <> daily.net_krw
union all
select 'daily cash', facts.net_krw, daily.cash_krw from facts, daily where facts.net_krw <> daily.cash_krw
union all
select 'daily gross', facts.gross_krw, daily.gross_krw from facts, daily where facts.gross_krw <> daily.gross_krw
union all
select 'campaigns', acquired.net_krw, campaigns.net_krw from acquired, campaigns
where acquired.net_krw <> campaigns.net_krw
union all
select 'staged rows', facts.payments, staged.payments from facts, staged where facts.payments <> staged.payments
