{{ config(
    pre_hook="{{ delete_window() }}",
    indexes=[{'columns': ['delivery_date']}, {'columns': ['user_id']}, {'columns': ['charge_date']}],
    on_schema_change='fail',
) }}

with

payments as (

    select * from {{ ref('stg_payments') }}
    where {{ in_window() }}

),

charges as (

    -- Every staged charge, for the cancels of this window to find their charge's date.
    select payment_id, occurred_date
    from {{ ref('stg_payments') }}
    where payment_type = 'charge'

),

fx_rates as (

    select * from {{ ref('fx_rates') }}

),

dated as (

    -- A cancel belongs to its charge's day for cohort and LTV views, and
    -- converts at that day's rate, so a full cancel nets its charge to zero.
    select
        payments.*,
        case when payments.payment_type = 'charge' then payments.payment_id
             else payments.original_payment_id end as charge_id,
        case when payments.payment_type = 'charge' then payments.occurred_date
             else charges.occurred_date end as charge_date

    from payments
    left join charges on payments.original_payment_id = charges.payment_id

),

converted as (

    select
        dated.*,
        round(dated.amount * case when dated.currency = 'KRW' then 1 else fx_rates.rate_to_krw end, 2) as amount_krw

    from dated
    left join fx_rates
        on fx_rates.currency = dated.currency
        and fx_rates.rate_date = dated.charge_date

)

select
    payment_id,
    payment_type,
    charge_id,
    user_id,
    amount,
    currency,
    amount_krw,
    case when payment_type = 'charge' then amount_krw else -amount_krw end as signed_amount_krw,
    occurred_at,
    occurred_date,
    charge_date,
    method,
    product,
    delivery_date

from converted
