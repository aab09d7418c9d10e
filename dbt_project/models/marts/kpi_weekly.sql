with

daily as (

    select * from {{ ref('kpi_daily') }}

),

weekly_actives as (

    select activity_week as week_start, count(*) as weekly_active_users
    from {{ ref('int_user_activity_weekly') }}
    group by 1

),

weekly as (

    select
        daily.week_start,
        count(*) as days_in_data,
        max(daily.daily_active_users) as peak_daily_active_users,
        sum(daily.installs) as installs,
        sum(daily.signups) as signups,
        sum(daily.activations) as activations,
        sum(daily.first_purchases) as first_purchases,
        sum(daily.gross_revenue_krw) as gross_revenue_krw,
        sum(daily.net_revenue_krw) as net_revenue_krw

    from daily
    group by 1

),

joined as (

    select
        weekly.*,
        coalesce(weekly_actives.weekly_active_users, 0) as weekly_active_users

    from weekly
    left join weekly_actives on weekly.week_start = weekly_actives.week_start

),

final as (

    -- Week-over-week change: (this week - last week) / last week; null when last week was 0.
    select
        *,
        {% for kpi in ['weekly_active_users', 'installs', 'signups', 'activations', 'first_purchases', 'net_revenue_krw'] %}
        round(({{ kpi }} - lag({{ kpi }}) over (order by week_start))::numeric
            / nullif(lag({{ kpi }}) over (order by week_start), 0), 4) as {{ kpi }}_wow{{ "," if not loop.last }}
        {% endfor %}

    from joined

)

select * from final
