{{ config(
    pre_hook="{{ delete_window() }}",
    indexes=[{'columns': ['delivery_date']}, {'columns': ['payment_id']}, {'columns': ['original_payment_id']}],
    on_schema_change='fail',
) }}

with

source as (

    select * from {{ source('raw', 'payments') }}
    where {{ in_window() }}

),

renamed as (

    select
        record ->> 'payment_id' as payment_id,
        record ->> 'type' as payment_type,
        record ->> 'original_payment_id' as original_payment_id,
        record ->> 'user_id' as user_id,
        (record ->> 'amount')::numeric as amount,
        record ->> 'currency' as currency,
        record ->> 'method' as method,
        record ->> 'product' as product,
        (record ->> 'occurred_at')::timestamptz as occurred_at,
        delivery_date,
        source_file,
        line_number,
        load_id

    from source

),

-- Retries can deliver a record twice: the first delivery of a payment_id wins.
{{ first_delivery_ctes('payment_id') }},

row_rules as (

    -- Rules that look at one record alone.
    select
        numbered.*,
        case
            when numbered.delivery_rank > 1 or delivered_before.payment_id is not null
                then 'duplicate_payment'
            when numbered.payment_type not in ('charge', 'cancel') then 'unknown_payment_type'
            when numbered.amount <= 0 then 'non_positive_amount'
            when numbered.currency not in ('{{ var("known_currencies") | join("', '") }}')
                then 'unknown_currency'
        end as row_reject_reason

    from numbered
    left join delivered_before on numbered.payment_id = delivered_before.payment_id

),

charges as (

    -- Charges a cancel may refer to: valid ones in this window and staged ones from before.
    select payment_id, amount, currency
    from row_rules
    where payment_type = 'charge' and row_reject_reason is null
    {% if is_incremental() %}
    union all
    select payment_id, amount, currency
    from {{ this }}
    where payment_type = 'charge' and row_status = 'staged'
        and delivery_date < {{ window_start() }}
        and payment_id in (select original_payment_id from renamed where payment_type = 'cancel')
    {% endif %}

),

cancels as (

    -- Cancels that pass the one-record rules, with those already built before,
    -- so that the running total of cancels per charge can be checked.
    select payment_id, original_payment_id, amount, occurred_at, true as in_window
    from row_rules
    where payment_type = 'cancel' and row_reject_reason is null
    {% if is_incremental() %}
    union all
    select payment_id, original_payment_id, amount, occurred_at, false as in_window
    from {{ this }}
    where payment_type = 'cancel'
        and (reject_reason is null or reject_reason = 'cancel_exceeds_charge')
        and delivery_date < {{ window_start() }}
        and original_payment_id in (select original_payment_id from renamed where payment_type = 'cancel')
    {% endif %}

),

cancel_totals as (

    select
        cancels.payment_id,
        cancels.in_window,
        charges.payment_id is null as is_orphan,
        charges.currency as charge_currency,
        charges.amount as charge_amount,
        sum(cancels.amount) over (
            partition by cancels.original_payment_id
            order by cancels.occurred_at, cancels.payment_id
        ) as cancelled_so_far

    from cancels
    left join charges on cancels.original_payment_id = charges.payment_id

),

checked as (

    select
        row_rules.*,
        coalesce(
            row_rules.row_reject_reason,
            case
                when cancel_totals.is_orphan then 'orphan_cancel'
                when cancel_totals.charge_currency <> row_rules.currency then 'cancel_currency_mismatch'
                when cancel_totals.cancelled_so_far > cancel_totals.charge_amount then 'cancel_exceeds_charge'
            end
        ) as reject_reason

    from row_rules
    left join cancel_totals
        on row_rules.payment_id = cancel_totals.payment_id
        and cancel_totals.in_window
        and row_rules.delivery_rank = 1

)

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
    {{ seoul_date('occurred_at') }} as occurred_date,
    case
        when reject_reason is null then 'staged'
        when reject_reason = 'duplicate_payment' then 'duplicate'
        else 'rejected'
    end as row_status,
    reject_reason,
    delivery_date,
    source_file,
    line_number,
    load_id

from checked
