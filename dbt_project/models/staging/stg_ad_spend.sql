with

checked as (

    select * from {{ ref('stg_ad_spend_checked') }}

),

staged as (

    select
        report_date,
        channel,
        campaign_id,
        campaign_name,
        impressions,
        clicks,
        spend,
        currency,
        delivery_date

    from checked
    where row_status = 'staged'

)

select * from staged
