with

campaigns as (

    select * from {{ ref('dim_campaigns') }}

),

spend as (

    select
        campaign_id,
        sum(spend_krw) as spend_krw,
        sum(impressions) as impressions,
        sum(clicks) as clicks

    from {{ ref('fct_ad_spend') }}
    group by 1

),

users as (

    select * from {{ ref('dim_users') }}
    where acquisition_campaign_id is not null

),

acquired as (

    select
        acquisition_campaign_id as campaign_id,
        count(*) as installs,
        count(signed_up_at) as signups,
        count(first_purchase_at) as paying_users

    from users
    group by 1

),

revenue as (

    -- Net revenue (charges minus their cancels) of the users each campaign
    -- acquired, by the day of the charge relative to the install.
    select
        users.acquisition_campaign_id as campaign_id,
        sum(payments.signed_amount_krw) filter (where payments.charge_date < users.install_date + 7)
            as revenue_d7_krw,
        sum(payments.signed_amount_krw) filter (where payments.charge_date < users.install_date + 30)
            as revenue_d30_krw,
        sum(payments.signed_amount_krw) as revenue_to_date_krw

    from {{ ref('fct_payments') }} as payments
    inner join users on payments.user_id = users.user_id
    group by 1

),

final as (

    select
        campaigns.campaign_id,
        campaigns.campaign_name,
        campaigns.channel,
        campaigns.start_date,
        campaigns.end_date,
        coalesce(spend.spend_krw, 0) as spend_krw,
        coalesce(spend.impressions, 0) as impressions,
        coalesce(spend.clicks, 0) as clicks,
        coalesce(acquired.installs, 0) as installs,
        coalesce(acquired.signups, 0) as signups,
        coalesce(acquired.paying_users, 0) as paying_users,
        round(spend.spend_krw / nullif(acquired.installs, 0), 2) as cost_per_install_krw,
        round(spend.spend_krw / nullif(acquired.signups, 0), 2) as cac_krw,
        coalesce(revenue.revenue_d7_krw, 0) as revenue_d7_krw,
        coalesce(revenue.revenue_d30_krw, 0) as revenue_d30_krw,
        coalesce(revenue.revenue_to_date_krw, 0) as revenue_to_date_krw,
        round(coalesce(revenue.revenue_d7_krw, 0) / nullif(spend.spend_krw, 0), 4) as roas_d7,
        round(coalesce(revenue.revenue_d30_krw, 0) / nullif(spend.spend_krw, 0), 4) as roas_d30,
        round(coalesce(revenue.revenue_to_date_krw, 0) / nullif(spend.spend_krw, 0), 4) as roas_to_date

    from campaigns
    left join spend on campaigns.campaign_id = spend.campaign_id
    left join acquired on campaigns.campaign_id = acquired.campaign_id
    left join revenue on campaigns.campaign_id = revenue.campaign_id

)

select * from final
