-- One row per charge and per state of its net amount: the charge opens a version,
-- every cancel closes it and opens the next. The version in effect at time T is the
-- one with valid_from < T <= valid_to (or valid_to null), so the LTV model reads
-- "a charge net of the cancels booked before T" without recomputing the rule.
with

payments as (

    select * from {{ ref('fct_payments') }}

),

users as (

    select * from {{ ref('dim_users') }}

),

acquired_users as (

    -- A paying account is attributed to the campaign of its first install
    -- (its earliest device with a seen install and a campaign).
    select distinct on (user_id)
        user_id,
        acquisition_campaign_id,
        installed_at,
        install_date

    from users
    where user_id is not null
        and acquisition_campaign_id is not null
        and install_date is not null
    order by user_id, installed_at

),

movements as (

    select
        charge_id,
        user_id,
        payment_id,
        occurred_at,
        signed_amount_krw,
        min(occurred_at) filter (where payment_type = 'charge') over (partition by charge_id) as charged_at

    from payments

),

versions as (

    select
        payment_id,
        charge_id,
        user_id,
        charged_at,
        occurred_at as valid_from,
        lead(occurred_at) over (partition by charge_id order by occurred_at, payment_id) as valid_to,
        sum(signed_amount_krw) over (
            partition by charge_id order by occurred_at, payment_id rows between unbounded preceding and current row
        ) as net_krw

    from movements

),

final as (

    select
        versions.payment_id,
        versions.charge_id,
        versions.user_id,
        acquired_users.acquisition_campaign_id,
        acquired_users.installed_at,
        acquired_users.install_date,
        versions.charged_at,
        versions.valid_from,
        versions.valid_to,
        versions.net_krw,
        -- A charge cancelled in full (or a cancel whose charge was never seen) is no purchase.
        versions.charged_at is not null and versions.net_krw > 0 as is_purchase

    from versions
    inner join acquired_users
        on acquired_users.user_id = versions.user_id

)

select * from final
