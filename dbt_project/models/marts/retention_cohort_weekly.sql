-- enable_mergejoin off: the planner cannot estimate the person key
-- (coalesce of two ids) and picks a merge join that sorts every person-week
-- of history to disk; a hash join reads it once.
{{ config(pre_hook="set local enable_mergejoin = off") }}

with

users as (

    select
        coalesce(user_id, anonymous_id) as actor_id,
        install_week as cohort_week

    from {{ ref('dim_users') }}

),

cohort_sizes as (

    select cohort_week, count(*) as cohort_size
    from users
    group by 1

),

activity as not materialized (

    -- not materialized: read once by the join, not copied for two readers
    select * from {{ ref('int_user_activity_weekly') }}

),

active_by_week as (

    select
        users.cohort_week,
        ((activity.activity_week - users.cohort_week) / 7)::int as weeks_since_install,
        count(*) as active_users

    from activity
    inner join users on activity.actor_id = users.actor_id
    where activity.activity_week >= users.cohort_week
    group by 1, 2

),

week_grid as (

    -- Every cohort gets a row for every week it has lived through, active or not.
    select
        cohort_sizes.cohort_week,
        cohort_sizes.cohort_size,
        generate_series(0, ((
            (select max(activity_week) from {{ ref('int_user_activity_weekly') }}) - cohort_sizes.cohort_week) / 7)::int
        ) as weeks_since_install

    from cohort_sizes

),

final as (

    select
        week_grid.cohort_week,
        week_grid.weeks_since_install,
        week_grid.cohort_size,
        coalesce(active_by_week.active_users, 0) as active_users,
        round(coalesce(active_by_week.active_users, 0)::numeric / week_grid.cohort_size, 4) as retention_rate

    from week_grid
    left join active_by_week
        on week_grid.cohort_week = active_by_week.cohort_week
        and week_grid.weeks_since_install = active_by_week.weeks_since_install

)

select * from final
