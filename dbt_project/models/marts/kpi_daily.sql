with

activity as (

    select activity_date, count(*) as daily_active_users
    from {{ ref('int_user_activity_daily') }}
    group by 1

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

acquisition as (

    select
        date_day,
        count(*) filter (where install_date = date_day) as installs,
        count(*) filter (where signup_date = date_day) as signups,
        count(*) filter (where profile_completed_date = date_day) as activations,
        count(*) filter (where first_purchase_date = date_day) as first_purchases

    from date_spine
    inner join users
        on users.install_date = date_day
        or users.signup_date = date_day
        or users.profile_completed_date = date_day
        or users.first_purchase_date = date_day
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
