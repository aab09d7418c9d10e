-- depends_on: {{ ref('fct_payments') }}
-- enable_nestloop off: a daily run joins a few thousand devices whose count
-- the planner cannot see (estimated at 1 or 2), and a nested loop over them is
-- quadratic; hash joins are right at every size here, and the index reads of
-- the devices' events are array scans, not joins.
{{ config(
    pre_hook=[
        "set local enable_nestloop = off",
        "{% if is_incremental() %}drop table if exists dim_users_rebuilt; create temporary table dim_users_rebuilt as {{ dim_users_affected_devices() }}{% else %}select 1{% endif %}",
        "{% if is_incremental() %}delete from {{ this }} where anonymous_id in (select anonymous_id from dim_users_rebuilt){% else %}select 1{% endif %}",
    ],
    indexes=[{'columns': ['anonymous_id'], 'unique': true}, {'columns': ['user_id']}, {'columns': ['max_delivery_date']}],
    on_schema_change='fail',
) }}

with

funnel as (

    -- A daily run rebuilds only the devices its window touched: the pre-hook
    -- lists them (before its delete, as the list reads this table) and deletes
    -- their rows; = any(array(...)) reads them by index, not by a scan.
    select * from {{ ref('int_acquisition_events') }}
    {% if is_incremental() %}
    where anonymous_id = any(array(select anonymous_id from dim_users_rebuilt))
    {% endif %}

),

installs as (

    -- First touch: the earliest install of a device carries its campaign.
    select distinct on (anonymous_id)
        anonymous_id,
        event_at as installed_at,
        event_date as install_date,
        campaign_id,
        channel,
        platform

    from funnel
    where event_name = 'app_install'
    order by anonymous_id, event_at, event_id

),

signups as (

    -- The signup event links the device (anonymous_id) to the account (user_id).
    select distinct on (anonymous_id)
        anonymous_id,
        user_id,
        event_at as signed_up_at,
        event_date as signup_date,
        campaign_id,
        channel,
        platform

    from funnel
    where event_name = 'signup'
    order by anonymous_id, event_at, event_id

),

later_steps as (

    select
        anonymous_id,
        min(event_at) filter (where event_name = 'profile_completed') as profile_completed_at,
        min(event_at) filter (where event_name = 'checkout_started') as first_checkout_at

    from funnel
    where event_name in ('profile_completed', 'checkout_started')
    group by 1

),

deliveries as (

    select anonymous_id, max(delivery_date) as max_delivery_date
    from funnel
    group by 1

),

first_charges as (

    select
        user_id,
        min(occurred_at) as first_purchase_at,
        max(delivery_date) as max_delivery_date

    from {{ ref('fct_payments') }}
    where payment_type = 'charge'
    {% if is_incremental() %}
        and user_id = any(array(select user_id from funnel where event_name = 'signup'))
    {% endif %}
    group by 1

),

devices as (

    select anonymous_id from installs
    union
    select anonymous_id from signups

),

final as (

    select
        devices.anonymous_id,
        signups.user_id,
        coalesce(installs.campaign_id, signups.campaign_id) as acquisition_campaign_id,
        coalesce(installs.channel, signups.channel, 'organic') as acquisition_channel,
        coalesce(installs.platform, signups.platform) as platform,
        installs.installed_at,
        coalesce(installs.install_date, signups.signup_date) as install_date,
        {{ week_of('coalesce(installs.install_date, signups.signup_date)') }} as install_week,
        signups.signed_up_at,
        signups.signup_date,
        later_steps.profile_completed_at,
        {{ seoul_date('later_steps.profile_completed_at') }} as profile_completed_date,
        later_steps.first_checkout_at,
        first_charges.first_purchase_at,
        {{ seoul_date('first_charges.first_purchase_at') }} as first_purchase_date,
        greatest(deliveries.max_delivery_date, first_charges.max_delivery_date) as max_delivery_date

    from devices
    left join deliveries on devices.anonymous_id = deliveries.anonymous_id
    left join installs on devices.anonymous_id = installs.anonymous_id
    left join signups on devices.anonymous_id = signups.anonymous_id
    left join later_steps on devices.anonymous_id = later_steps.anonymous_id
    left join first_charges on signups.user_id = first_charges.user_id

)

select * from final
