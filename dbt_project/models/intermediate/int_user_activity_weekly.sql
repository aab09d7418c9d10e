-- depends_on: {{ ref('int_acquisition_events') }}
-- depends_on: {{ ref('fct_events') }}
{{ config(
    pre_hook="{% if is_incremental() %}delete from {{ this }} where activity_week = any(array(select " ~ week_of('event_date') ~ " from ({{ activity_affected_dates() }}) as affected)){% else %}select 1{% endif %}",
    indexes=[{'columns': ['activity_week']}, {'columns': ['max_delivery_date']}],
    on_schema_change='fail',
) }}

with

daily as (

    select * from {{ ref('int_user_activity_daily') }}
    {% if is_incremental() %}
    -- An array, so the affected weeks are read by index (see int_user_activity_daily).
    where activity_week = any(array(
        select {{ week_of('event_date') }} from ({{ activity_affected_dates() }}) as affected
    ))
    {% endif %}

)

select
    actor_id,
    activity_week,
    count(*) as active_days,
    sum(events) as events,
    max(max_delivery_date) as max_delivery_date

from daily
group by 1, 2
-- A week's rows together on disk: later runs read and recount whole weeks.
order by activity_week
