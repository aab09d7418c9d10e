-- A view: the nightly forecast is written after the build that publishes the marts.
{{ config(materialized='view') }}

with

performance as (

    select * from {{ ref('campaign_performance') }}

),

forecasts as (

    select * from {{ source('ltv', 'campaign_forecasts') }}
    where basis = 'since_acquisition'

),

latest as (

    select * from forecasts
    where as_of_date = (select max(as_of_date) from forecasts)

),

pivoted as (

    select
        campaign_id,
        max(as_of_date) as forecast_as_of,
        max(revenue_per_user_p50_krw) filter (where horizon_days = 365) as ltv_365_p50_krw,
        max(revenue_per_user_p10_krw) filter (where horizon_days = 365) as ltv_365_p10_krw,
        max(revenue_per_user_p90_krw) filter (where horizon_days = 365) as ltv_365_p90_krw,
        max(roas_p50) filter (where horizon_days = 90) as roas_90_p50,
        max(roas_p50) filter (where horizon_days = 365) as roas_365_p50,
        max(roas_p10) filter (where horizon_days = 365) as roas_365_p10,
        max(roas_p90) filter (where horizon_days = 365) as roas_365_p90,
        max(payback_day) as payback_day

    from latest
    group by campaign_id

)

select
    performance.*,
    pivoted.forecast_as_of,
    pivoted.ltv_365_p10_krw,
    pivoted.ltv_365_p50_krw,
    pivoted.ltv_365_p90_krw,
    pivoted.roas_90_p50,
    pivoted.roas_365_p10,
    pivoted.roas_365_p50,
    pivoted.roas_365_p90,
    pivoted.payback_day

from performance
left join pivoted on performance.campaign_id = pivoted.campaign_id
