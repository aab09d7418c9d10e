-- raw = staged + rejected + duplicates (+ superseded restatements), per source and delivery date.
with

raw_rows as (

    select 'events' as source, delivery_date, count(*) as rows from {{ source('raw', 'events') }} group by 2
    union all
    select 'payments', delivery_date, count(*) from {{ source('raw', 'payments') }} group by 2
    union all
    select 'ad_spend', delivery_date, count(*) from {{ source('raw', 'ad_spend') }} group by 2

),

accounted as (

    select 'events' as source, delivery_date, count(*) as rows from {{ ref('stg_events') }} group by 2
    union all
    select 'events', delivery_date, count(*) from {{ ref('rejected_events') }} group by 2
    union all
    select 'payments', delivery_date, count(*) from {{ ref('stg_payments') }} group by 2
    union all
    select 'payments', delivery_date, count(*) from {{ ref('rejected_payments') }} group by 2
    union all
    select 'ad_spend', delivery_date, count(*) from {{ ref('stg_ad_spend_checked') }} where row_status = 'staged' group by 2
    union all
    select 'ad_spend', delivery_date, count(*) from {{ ref('rejected_ad_spend') }} group by 2

),

summed as (

    select source, delivery_date, sum(rows) as rows from accounted group by 1, 2

)

select *
from raw_rows
full outer join summed using (source, delivery_date)
where raw_rows.rows is distinct from summed.rows
