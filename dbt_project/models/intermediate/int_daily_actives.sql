-- depends_on: {{ ref('int_acquisition_events') }}
-- depends_on: {{ ref('fct_events') }}
{{ config(
    pre_hook="{{ delete_affected_days('activity_date') }}",
    indexes=[{'columns': ['activity_date'], 'unique': true}],
    on_schema_change='fail',
) }}

-- Daily active people per Seoul day, recounted only for the days this run
-- touched: the KPI marts read one row a day instead of counting the
-- person-day table, which grows with history, on every run.

with

activity as (

    select * from {{ ref('int_user_activity_daily') }}
    {% if is_incremental() %}
    where {{ in_affected_days('activity_date') }}
    {% endif %}

),

counted as (

    select
        activity_date,
        count(*) as daily_active_users,
        max(max_delivery_date) as max_delivery_date

    from activity
    group by 1

)

select * from counted
