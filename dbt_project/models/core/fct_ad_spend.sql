with

spend as (

    select * from {{ ref('stg_ad_spend') }}

),

fx_rates as (

    select * from {{ ref('fx_rates') }}

),

converted as (

    select
        spend.report_date,
        spend.campaign_id,
        spend.channel,
        spend.impressions,
        spend.clicks,
        spend.spend,
        spend.currency,
        round(spend.spend * case when spend.currency = 'KRW' then 1 else fx_rates.rate_to_krw end, 2) as spend_krw,
        spend.delivery_date as reported_in_delivery

    from spend
    left join fx_rates
        on fx_rates.currency = spend.currency
        and fx_rates.rate_date = spend.report_date

)

select * from converted
