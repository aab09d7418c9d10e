-- Every published nightly forecast, one row per as-of date and campaign: LTV per
-- acquired user at 30/90/180/365 days after acquisition with its 10/50/90% band,
-- ROAS at 365 days and the payback day, beside the campaign's name and channel.
-- A view, like campaign_ltv: a forecast shows as soon as it is published.
{{ config(materialized='view') }}

with

forecasts as (

    select * from {{ source('ltv', 'campaign_forecasts') }}
    where basis = 'since_acquisition'

),

campaigns as (

    select * from {{ ref('dim_campaigns') }}

),

pivoted as (

    select
        as_of_date,
        campaign_id,
        max(users) as users,
        max(spend_krw) as spend_krw,
        {% for horizon in [30, 90, 180, 365] %}
        {% for band in ['p10', 'p50', 'p90'] %}
        max(revenue_per_user_{{ band }}_krw) filter (where horizon_days = {{ horizon }})
            as ltv_{{ horizon }}_{{ band }}_krw,
        {% endfor %}
        {% endfor %}
        max(roas_p10) filter (where horizon_days = 365) as roas_365_p10,
        max(roas_p50) filter (where horizon_days = 365) as roas_365_p50,
        max(roas_p90) filter (where horizon_days = 365) as roas_365_p90,
        max(payback_day) as payback_day

    from forecasts
    group by as_of_date, campaign_id

),

final as (

    select
        pivoted.as_of_date,
        pivoted.campaign_id,
        coalesce(campaigns.campaign_name, pivoted.campaign_id) as campaign_name,
        coalesce(campaigns.channel, 'unknown') as channel,
        pivoted.users,
        pivoted.spend_krw,
        {% for horizon in [30, 90, 180, 365] %}
        {% for band in ['p10', 'p50', 'p90'] %}
        pivoted.ltv_{{ horizon }}_{{ band }}_krw,
        {% endfor %}
        {% endfor %}
        pivoted.roas_365_p10,
        pivoted.roas_365_p50,
        pivoted.roas_365_p90,
        pivoted.payback_day,
        pivoted.as_of_date = max(pivoted.as_of_date) over () as is_latest

    from pivoted
    left join campaigns on campaigns.campaign_id = pivoted.campaign_id

)

select * from final
