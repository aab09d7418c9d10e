-- raw = staged + rejected + duplicates (+ superseded restatements), per source and delivery date.
-- A daily run checks the delivery dates it rebuilt; a full build checks them all.
{% set since = "delivery_date >= '" ~ (var('window_start') or '0001-01-01') ~ "'" %}
with

raw_rows as (

    select 'events' as source, delivery_date, count(*) as rows from {{ source('raw', 'events') }} where {{ since }} group by 2
    union all
    select 'payments', delivery_date, count(*) from {{ source('raw', 'payments') }} where {{ since }} group by 2
    union all
    select 'ad_spend', delivery_date, count(*) from {{ source('raw', 'ad_spend') }} where {{ since }} group by 2

),

accounted as (

    select 'events' as source, delivery_date, count(*) as rows from {{ ref('stg_events') }} where {{ since }} group by 2
    union all
    select 'events', delivery_date, count(*) from {{ ref('rejected_events') }} where {{ since }} group by 2
    union all
    select 'payments', delivery_date, count(*) from {{ ref('stg_payments') }} where {{ since }} group by 2
    union all
    select 'payments', delivery_date, count(*) from {{ ref('rejected_payments') }} where {{ since }} group by 2
    union all
    select 'ad_spend', delivery_date, count(*) from {{ ref('stg_ad_spend_checked') }} where {{ since }} and row_status = 'staged' group by 2
    union all
    select 'ad_spend', delivery_date, count(*) from {{ ref('rejected_ad_spend') }} where {{ since }} group by 2

),

summed as (

    select source, delivery_date, sum(rows) as rows from accounted group by 1, 2

)

select *
from raw_rows
full outer join summed using (source, delivery_date)
where raw_rows.rows is distinct from summed.rows
