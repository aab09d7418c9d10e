-- depends_on: {{ ref('int_acquisition_events') }}
-- depends_on: {{ ref('fct_events') }}
{{ config(
    pre_hook="{{ delete_affected_days('activity_date') }}",
    indexes=[{'columns': ['activity_date']}, {'columns': ['activity_week']}, {'columns': ['max_delivery_date']}],
    on_schema_change='fail',
) }}

with

events as (

    select * from {{ ref('fct_events') }}
    {% if is_incremental() %}
    where {{ in_affected_days('event_date') }}
    {% endif %}

),

users as (

    select anonymous_id, user_id from {{ ref('dim_users') }}

),

stitched as (

    -- One actor per person: the account once known, else the device.
    select
        coalesce(events.user_id, users.user_id, events.anonymous_id) as actor_id,
        events.event_date,
        events.delivery_date

    from events
    left join users on events.anonymous_id = users.anonymous_id

)

select
    actor_id,
    event_date as activity_date,
    {{ week_of('event_date') }} as activity_week,
    count(*) as events,
    max(delivery_date) as max_delivery_date

from stitched
group by 1, 2
-- A day's rows together on disk: later runs read and recount whole days.
order by activity_date
