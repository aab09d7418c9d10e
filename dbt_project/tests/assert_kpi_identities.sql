-- Identities every KPI table must satisfy.
select 'wau below peak dau' as broken, week_start::text as at_key
from {{ ref('kpi_weekly') }}
where weekly_active_users < peak_daily_active_users
union all
select 'net is not gross - cancelled', date_day::text
from {{ ref('kpi_daily') }}
where net_revenue_krw <> gross_revenue_krw - cancelled_revenue_krw
union all
select 'retention outside [0, 1]', cohort_week::text || '+' || weeks_since_install
from {{ ref('retention_cohort_weekly') }}
where retention_rate < 0 or retention_rate > 1
union all
select 'signups differ between daily and acquisition marts', null
from (select sum(signups) as s from {{ ref('kpi_daily') }}) as a,
     (select sum(signups) as s from {{ ref('kpi_acquisition_daily') }}) as b
where a.s <> b.s
union all
select 'a day is missing from the spine', null
from (select count(*) as n, max(date_day) - min(date_day) + 1 as span from {{ ref('kpi_daily') }}) as spine
where spine.n <> spine.span
