{{ config(materialized='table') }}

{#- Small (one row per campaign and day, a few restatements): rebuilt in full. -#}

with

source as (

    select * from {{ source('raw', 'ad_spend') }}

),

campaigns as (

    select campaign_id from {{ ref('stg_campaigns') }}

),

renamed as (

    select
        (record ->> 'date')::date as report_date,
        record ->> 'channel' as channel,
        record ->> 'campaign_id' as campaign_id,
        nullif(record ->> 'campaign_name', '') as campaign_name,
        (record ->> 'impressions')::bigint as impressions,
        (record ->> 'clicks')::bigint as clicks,
        (record ->> 'spend')::numeric as spend,
        record ->> 'currency' as currency,
        delivery_date,
        source_file,
        line_number,
        load_id

    from source

),

row_rules as (

    select
        renamed.*,
        case
            when renamed.spend < 0 then 'negative_spend'
            when renamed.currency not in ('{{ var("known_currencies") | join("', '") }}') then 'unknown_currency'
            when campaigns.campaign_id is null then 'unknown_campaign'
        end as reject_reason

    from renamed
    left join campaigns on renamed.campaign_id = campaigns.campaign_id

),

restated as (

    -- Platforms restate earlier days: the latest valid delivery of a (day, campaign) wins.
    select
        *,
        case when reject_reason is null then row_number() over (
            partition by report_date, campaign_id, reject_reason is null
            order by delivery_date desc, source_file desc, line_number desc
        ) end as restatement_rank

    from row_rules

)

select
    report_date,
    channel,
    campaign_id,
    campaign_name,
    impressions,
    clicks,
    spend,
    currency,
    case
        when reject_reason is not null then 'rejected'
        when restatement_rank > 1 then 'superseded'
        else 'staged'
    end as row_status,
    reject_reason,
    delivery_date,
    source_file,
    line_number,
    load_id

from restated
