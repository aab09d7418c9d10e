with

campaigns as (

    select * from {{ ref('stg_campaigns') }}

),

spend as (

    select
        campaign_id,
        min(report_date) as first_spend_date,
        max(report_date) as last_spend_date

    from {{ ref('fct_ad_spend') }}
    group by 1

),

final as (

    select
        campaigns.campaign_id,
        campaigns.campaign_name,
        campaigns.channel,
        campaigns.objective,
        campaigns.start_date,
        campaigns.end_date,
        campaigns.end_date is null as is_running,
        spend.first_spend_date,
        spend.last_spend_date

    from campaigns
    left join spend on campaigns.campaign_id = spend.campaign_id

)

select * from final
