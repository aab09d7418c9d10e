-- The daily KPI series, per segment, that metric-rot detection watches (long form:
-- one row per day, KPI and segment). Segments are `name=value` pairs; their names
-- and the KPI names are a contract with the detector and the generator's incidents.
--
-- Incremental: a run recomputes the days its window's deliveries can have changed,
-- from the window start minus the oldest event time staging accepts
-- (`stale_event_tolerance`), not the whole history.
{{ config(
    materialized='incremental',
    on_schema_change='fail',
    indexes=[{'columns': ['metric_date']}],
    pre_hook="{% if is_incremental() %}delete from {{ this }} where metric_date >= {{ segments_recompute_from() }}{% else %}select 1{% endif %}",
) }}

with

events as (

    select * from {{ ref('fct_events') }}
    where {{ segments_in_window('event_date') }}

),

acquisition as (

    select * from {{ ref('kpi_acquisition_daily') }}
    where {{ segments_in_window('date_day') }}

),

campaigns as (

    select * from {{ ref('dim_campaigns') }}

),

payments as (

    select * from {{ ref('fct_payments') }}
    where {{ segments_in_window('occurred_date') }}

),

ad_spend as (

    select * from {{ ref('fct_ad_spend') }}

),

event_volume as (

    select
        event_date as metric_date,
        'events' as kpi,
        'event_name=' || event_name || ' platform=' || platform
            || ' app_version=' || coalesce(app_version, '(none)') as segment,
        count(*)::numeric as value,
        null::bigint as denominator,
        null::boolean as repeats_previous_day

    from events
    group by 1, 3

),

acquisition_while_running as (

    -- A campaign's series runs from its start to its end date: a campaign that ended
    -- is not an outage. Unpaid channels (no campaign) always run.
    select acquisition.*
    from acquisition
    left join campaigns on acquisition.campaign_id = campaigns.campaign_id
    where acquisition.campaign_id is null
        or acquisition.date_day between campaigns.start_date and coalesce(campaigns.end_date, acquisition.date_day)

),

installs_and_signups as (

    select
        date_day as metric_date,
        kpi,
        'channel=' || channel || ' campaign=' || coalesce(campaign_id, '(none)') as segment,
        value,
        null::bigint as denominator,
        null::boolean as repeats_previous_day

    from acquisition_while_running
    cross join lateral (
        values ('installs', installs::numeric), ('signups', signups::numeric)
    ) as steps (kpi, value)

),

unattributed_share as (

    select
        date_day as metric_date,
        'unattributed_install_share' as kpi,
        'all' as segment,
        round(sum(installs) filter (where campaign_id is null)::numeric / nullif(sum(installs), 0), 4) as value,
        sum(installs)::bigint as denominator,
        null::boolean as repeats_previous_day

    from acquisition
    group by 1
    having sum(installs) > 0

),

charges as (

    select
        occurred_date as metric_date,
        'charges' as kpi,
        'method=' || method as segment,
        count(*)::numeric as value,
        null::bigint as denominator,
        null::boolean as repeats_previous_day

    from payments
    where payment_type = 'charge'
    group by 1, 3

),

spend_with_previous as (

    select
        report_date,
        channel,
        campaign_id,
        spend,
        spend_krw,
        impressions,
        clicks,
        lag(spend) over by_campaign as previous_spend,
        lag(impressions) over by_campaign as previous_impressions,
        lag(clicks) over by_campaign as previous_clicks,
        lag(report_date) over by_campaign as previous_date

    from ad_spend
    window by_campaign as (partition by campaign_id order by report_date)

),

spend as (

    select
        report_date as metric_date,
        'spend_krw' as kpi,
        'channel=' || channel || ' campaign=' || campaign_id as segment,
        spend_krw::numeric as value,
        null::bigint as denominator,
        -- The export's row equal to the day before's, spend to the cent, impressions and
        -- clicks: a stuck export. (Spend alone repeats by chance now and then.)
        coalesce(previous_date = report_date - 1 and spend = previous_spend and spend > 0
                 and impressions = previous_impressions and clicks = previous_clicks, false)
            as repeats_previous_day

    from spend_with_previous
    where {{ segments_in_window('report_date') }}

),

final as (

    select * from event_volume
    union all
    select * from installs_and_signups
    union all
    select * from unattributed_share
    union all
    select * from charges
    union all
    select * from spend

)

select * from final
