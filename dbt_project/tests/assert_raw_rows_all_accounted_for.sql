-- raw = staged + rejected + duplicates (+ superseded restatements), per source and delivery date.
-- A daily run checks the delivery dates it rebuilt; a full build checks them all. Only
-- loads present on both sides are compared: a partition (re)loaded while the build
-- ran is the next build's work.
{% set since = "delivery_date >= '" ~ (window_start_value() or '0001-01-01') ~ "'" %}
{% set sources = ['events', 'payments', 'ad_spend'] %}

with

{% for s in sources %}
raw_{{ s }} as (

    select delivery_date, load_id, count(*) as rows
    from {{ source('raw', s) }}
    where {{ since }}
    group by 1, 2

),

checked_{{ s }} as (

    select delivery_date, load_id, row_status, count(*) as rows
    from {{ ref('stg_' ~ s ~ '_checked') }}
    where {{ since }}
    group by 1, 2, 3

),

views_{{ s }} as (

    -- The staged view plus the dq view must cover every checked row.
    select delivery_date, sum(rows) as rows
    from (
        select delivery_date, count(*) as rows from {{ ref('stg_' ~ s) }} where {{ since }} group by 1
        union all
        select delivery_date, count(*) from {{ ref('rejected_' ~ s) }} where {{ since }} group by 1
    ) as parts
    group by 1

),

{% endfor %}

mismatches as (

    {% for s in sources %}
    select '{{ s }}' as source, raw_rows.delivery_date, raw_rows.rows as raw_rows, accounted.rows as accounted_rows
    from raw_{{ s }} as raw_rows
    full outer join (
        select delivery_date, load_id, sum(rows) as rows from checked_{{ s }} group by 1, 2
    ) as accounted using (delivery_date, load_id)
    where raw_rows.rows is distinct from accounted.rows
        and raw_rows.load_id is not null and accounted.load_id is not null
    union all
    select '{{ s }}', checked.delivery_date, checked.rows, views.rows
    from (select delivery_date, sum(rows) as rows from checked_{{ s }} group by 1) as checked
    full outer join views_{{ s }} as views using (delivery_date)
    where checked.rows is distinct from views.rows
    {{ "union all" if not loop.last }}
    {% endfor %}

)

select * from mismatches
