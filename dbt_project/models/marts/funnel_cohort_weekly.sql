with

users as (

    select * from {{ ref('dim_users') }}

),

cohorts as (

    -- Each device's furthest funnel step, counted in its install week.
    select
        install_week as cohort_week,
        acquisition_channel as channel,
        count(*) as installs,
        count(signed_up_at) as signups,
        count(profile_completed_at) as profiles_completed,
        count(first_checkout_at) as checkouts_started,
        count(first_purchase_at) as first_purchases

    from users
    group by 1, 2

),

final as (

    select
        *,
        round(signups::numeric / nullif(installs, 0), 4) as install_to_signup,
        round(profiles_completed::numeric / nullif(signups, 0), 4) as signup_to_profile,
        round(checkouts_started::numeric / nullif(profiles_completed, 0), 4) as profile_to_checkout,
        round(first_purchases::numeric / nullif(checkouts_started, 0), 4) as checkout_to_purchase,
        round(first_purchases::numeric / nullif(installs, 0), 4) as install_to_purchase

    from cohorts

)

select * from final
