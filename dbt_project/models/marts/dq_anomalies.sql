-- A view: anomaly verdicts arrive after the build that publishes this mart.
{{ config(materialized='view') }}

with

results as (

    select * from {{ source('dq', 'validation_results') }}
    where category = 'anomaly'

),

latest as (

    -- A later check of the same series and day replaces the earlier verdict.
    select distinct on (check_id, period_end) *
    from results
    order by check_id, period_end, checked_at desc

),

final as (

    select
        period_end as anomaly_date,
        column_name as kpi,
        segment,
        expectation_type as rule,
        observed_value::numeric as observed_value,
        round(expected_value::numeric, 2) as expected_value,
        round(expected_low::numeric, 2) as expected_low,
        round(expected_high::numeric, 2) as expected_high,
        dag_id,
        run_id,
        checked_at

    from latest
    where not success

)

select * from final
