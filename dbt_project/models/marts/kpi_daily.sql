with

activity as (

    select activity_date, daily_active_users
    from {{ ref('int_daily_actives') }}

),

users as (

    select * from {{ ref('dim_users') }}

),

payments as (

    select * from {{ ref('fct_payments') }}

),

date_spine as (

    -- Every Seoul day from the first install to the newest activity: a quiet
    -- day is a row of zeros, not a missing row.
    select generate_series(
        (select min(install_date) from users),
        (select greatest(max(activity_date), (select max(occurred_date) from payments)) from activity),
        interval '1 day'
    )::date as date_day

),

acquisition_steps as (

    -- One row per step reached, on the day it was reached (a union of scans, not
    -- a join on OR, so the cost stays linear in users).
    select install_date as date_day, 1 as installs, 0 as signups, 0 as activations, 0 as first_purchases
    from users
    union all
    select signup_date, 0, 1, 0, 0 from users where signup_date is not null
    union all
    select profile_completed_date, 0, 0, 1, 0 from users where profile_completed_date is not null
    union all
    select first_purchase_date, 0, 0, 0, 1 from users where first_purchase_date is not null

),

acquisition as (

    select
        date_day,
        sum(installs) as installs,
        sum(signups) as signups,
        sum(activations) as activations,
        sum(first_purchases) as first_purchases

    from acquisition_steps
    group by 1

),

by_charge_date as (

    -- Revenue on the day of the charge (cohort and LTV views).
    select
        charge_date as date_day,
        sum(amount_krw) filter (where payment_type = 'charge') as gross_revenue_krw,
        sum(amount_krw) filter (where payment_type = 'cancel') as cancelled_revenue_krw,
        count(distinct user_id) filter (where payment_type = 'charge') as paying_users

    from payments
    group by 1

),

by_cash_date as (

    -- Cancels on the day they happen (cash view).
    select
        occurred_date as date_day,
        sum(amount_krw) filter (where payment_type = 'cancel') as cancels_booked_krw

    from payments
    group by 1

),

final as (

    select
        date_spine.date_day,
        {{ week_of('date_spine.date_day') }} as week_start,
        coalesce(activity.daily_active_users, 0) as daily_active_users,
        coalesce(acquisition.installs, 0) as installs,
        coalesce(acquisition.signups, 0) as signups,
        coalesce(acquisition.activations, 0) as activations,
        coalesce(acquisition.first_purchases, 0) as first_purchases,
        coalesce(by_charge_date.paying_users, 0) as paying_users,
        coalesce(by_charge_date.gross_revenue_krw, 0) as gross_revenue_krw,
        coalesce(by_charge_date.cancelled_revenue_krw, 0) as cancelled_revenue_krw,
        coalesce(by_charge_date.gross_revenue_krw, 0) - coalesce(by_charge_date.cancelled_revenue_krw, 0)
            as net_revenue_krw,
        coalesce(by_cash_date.cancels_booked_krw, 0) as cancels_booked_krw,
        coalesce(by_charge_date.gross_revenue_krw, 0) - coalesce(by_cash_date.cancels_booked_krw, 0)
            as net_cash_krw

    from date_spine
    left join activity on date_spine.date_day = activity.activity_date
    left join acquisition on date_spine.date_day = acquisition.date_day
    left join by_charge_date on date_spine.date_day = by_charge_date.date_day
    left join by_cash_date on date_spine.date_day = by_cash_date.date_day

)

select
    *,
    round(net_revenue_krw / nullif(daily_active_users, 0), 2) as arpu_krw,
    round(net_revenue_krw / nullif(paying_users, 0), 2) as arppu_krw

from final
