{{ config(
    pre_hook="{{ delete_window() }}",
    indexes=[{'columns': ['delivery_date']}, {'columns': ['event_date']}, {'columns': ['anonymous_id']}],
    on_schema_change='fail',
) }}

with

events as (

    select * from {{ ref('stg_events') }}
    where {{ in_window() }}

),

final as (

    select
        event_id,
        event_name,
        event_at,
        event_date,
        {{ week_of('event_date') }} as event_week,
        received_at,
        anonymous_id,
        user_id,
        platform,
        app_version,
        campaign_id,
        channel,
        delivery_date

    from events

)

select * from final
-- Rows of a Seoul day sit together on disk, also after a full refresh: the
-- activity models read whole days of events by index.
order by event_date
