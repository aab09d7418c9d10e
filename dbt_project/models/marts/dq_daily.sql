-- A view: validation results arrive after the build that publishes this mart.
{{ config(materialized='view') }}

with

results as (

    select * from {{ source('dq', 'validation_results') }}

),

latest as (

    -- A rerun of a check for the same period replaces its earlier verdict.
    select distinct on (suite, check_id, period_end) *
    from results
    order by suite, check_id, period_end, checked_at desc

),

daily as (

    select
        period_end as check_date,
        layer,
        category,
        severity,
        count(*) as checks,
        count(*) filter (where not success) as failed_checks,
        coalesce(sum(unexpected_count) filter (where not success), 0) as unexpected_rows,
        max(checked_at) as last_checked_at

    from latest
    group by 1, 2, 3, 4

)

select * from daily
