{{ config(
    pre_hook="{{ delete_window() }}",
    indexes=[{'columns': ['delivery_date']}, {'columns': ['anonymous_id']}],
    on_schema_change='fail',
) }}

with

events as (

    select * from {{ ref('stg_events') }}
    where {{ in_window() }}

),

funnel_steps as (

    -- Only the events that move a user through the funnel: a small slice of
    -- the event log that the user dimension is rebuilt from each day.
    select
        event_id,
        event_name,
        event_at,
        event_date,
        anonymous_id,
        user_id,
        campaign_id,
        channel,
        platform,
        delivery_date

    from events
    where event_name in ('app_install', 'signup', 'profile_completed', 'checkout_started')

)

select * from funnel_steps
