with

checked as (

    select * from {{ ref('stg_payments_checked') }}

),

staged as (

    select
        payment_id,
        payment_type,
        original_payment_id,
        user_id,
        amount,
        currency,
        method,
        product,
        occurred_at,
        occurred_date,
        delivery_date

    from checked
    where row_status = 'staged'

)

select * from staged
