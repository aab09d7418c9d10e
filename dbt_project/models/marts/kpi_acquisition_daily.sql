with

users as (

    select * from {{ ref('dim_users') }}

),

sources as (

    select distinct acquisition_channel, coalesce(acquisition_campaign_id, '(none)') as campaign_key
    from users

),

date_spine as (

    select generate_series(
        (select min(install_date) from users),
        (select max(greatest(install_date, signup_date, profile_completed_date)) from users),
        interval '1 day'
    )::date as date_day

),

events as (

    -- First-touch attribution: every step counts for the campaign that brought the device.
    select acquisition_channel, coalesce(acquisition_campaign_id, '(none)') as campaign_key,
           install_date as date_day, 'install' as step, false as is_activated
    from users where install_date is not null
    union all
    select acquisition_channel, coalesce(acquisition_campaign_id, '(none)'), signup_date, 'signup',
           profile_completed_date is not null
    from users where signup_date is not null
    union all
    select acquisition_channel, coalesce(acquisition_campaign_id, '(none)'), profile_completed_date, 'activation',
           true
    from users where profile_completed_date is not null

),

counted as (

    select
        date_day,
        acquisition_channel,
        campaign_key,
        count(*) filter (where step = 'install') as installs,
        count(*) filter (where step = 'signup') as signups,
        count(*) filter (where step = 'activation') as activations,
        count(*) filter (where step = 'signup' and is_activated) as activated_signups

    from events
    group by 1, 2, 3

),

final as (

    select
        date_spine.date_day,
        sources.acquisition_channel as channel,
        nullif(sources.campaign_key, '(none)') as campaign_id,
        coalesce(counted.installs, 0) as installs,
        coalesce(counted.signups, 0) as signups,
        coalesce(counted.activations, 0) as activations,
        -- Of the day's sign-ups, the share that completed a profile (by now): a cohort
        -- share, so it stays within 0..1 (activations that day can belong to older sign-ups).
        round(coalesce(counted.activated_signups, 0)::numeric / nullif(counted.signups, 0), 4) as activation_rate

    from date_spine
    cross join sources
    left join counted
        on date_spine.date_day = counted.date_day
        and sources.acquisition_channel = counted.acquisition_channel
        and sources.campaign_key = counted.campaign_key

)

select * from final
