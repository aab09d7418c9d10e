{{ config(
    pre_hook="{{ delete_window() }}",
    indexes=[{'columns': ['delivery_date']}, {'columns': ['event_date', 'event_id']}],
    on_schema_change='fail',
) }}

with

source as (

    select * from {{ source('raw', 'events') }}
    where {{ in_window() }}

),

renamed as (

    select
        record ->> 'event_id' as event_id,
        record ->> 'event_name' as event_name,
        (record ->> 'event_time')::timestamptz as event_at,
        {{ seoul_date("(record ->> 'event_time')::timestamptz") }} as event_date,
        (record ->> 'received_at')::timestamptz as received_at,
        record ->> 'anonymous_id' as anonymous_id,
        record ->> 'user_id' as user_id,
        record ->> 'platform' as platform,
        record ->> 'app_version' as app_version,
        record ->> 'campaign_id' as campaign_id,
        record ->> 'channel' as channel,
        record -> 'properties' as properties,
        delivery_date,
        source_file,
        line_number,
        load_id

    from source

),

-- The collector delivers at least once: the first delivery of an event_id wins.
{{ first_delivery_ctes('event_id', day='event_date') }},

checked as (

    select
        numbered.*,
        case
            when numbered.delivery_rank > 1 or delivered_before.event_id is not null
                then 'duplicate_event'
            when numbered.event_name not in ('{{ var("known_event_names") | join("', '") }}')
                then 'unknown_event_name'
            when numbered.event_at > numbered.received_at + interval '{{ var("future_event_tolerance") }}'
                then 'future_event_time'
            when numbered.event_at < numbered.received_at - interval '{{ var("stale_event_tolerance") }}'
                then 'stale_event_time'
            when numbered.event_name = 'signup' and numbered.user_id is null
                then 'signup_without_user'
        end as reject_reason

    from numbered
    left join delivered_before on numbered.event_id = delivered_before.event_id

)

select
    event_id,
    event_name,
    event_at,
    event_date,
    received_at,
    anonymous_id,
    user_id,
    platform,
    app_version,
    campaign_id,
    channel,
    properties,
    case
        when reject_reason is null then 'staged'
        when reject_reason = 'duplicate_event' then 'duplicate'
        else 'rejected'
    end as row_status,
    reject_reason,
    delivery_date,
    source_file,
    line_number,
    load_id

from checked
