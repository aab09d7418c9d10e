{{ config(materialized='table') }}

with

source as (

    select * from {{ source('raw', 'campaigns') }}

),

renamed as (

    select
        record ->> 'campaign_id' as campaign_id,
        nullif(record ->> 'campaign_name', '') as campaign_name,
        record ->> 'channel' as channel,
        nullif(record ->> 'objective', '') as objective,
        (record ->> 'start_date')::date as start_date,
        nullif(record ->> 'end_date', '')::date as end_date,
        delivery_date,
        line_number

    from source

),

latest_snapshot as (

    -- The catalogue is a daily full snapshot: the newest delivery describes a campaign.
    select
        *,
        row_number() over (
            partition by campaign_id order by delivery_date desc, line_number desc
        ) as snapshot_rank

    from renamed

)

select
    campaign_id,
    campaign_name,
    channel,
    objective,
    start_date,
    end_date,
    delivery_date as last_seen_delivery_date

from latest_snapshot
where snapshot_rank = 1
