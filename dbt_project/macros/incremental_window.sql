{#-
  Incremental processing by delivery date.

  A run reprocesses every delivery date from its window start on: the
  `window_start` var or the GROWTHFLOW_DBT_WINDOW_START environment variable when
  given (the warehouse DAG passes the earliest delivery date that its triggering
  ingest runs loaded), else the newest delivery date already built minus
  `lookback_days`. The window start is read once, when the
  model compiles, so the pre-hook's delete and the model's select agree.
  Rows of the window are deleted and rebuilt in the model's transaction, which
  makes a rerun or a late file give the same rows as a full refresh.
-#}
{#- The window start given to this run, as text ('' when none): the `window_start` var
    (`dbt build --vars`), else GROWTHFLOW_DBT_WINDOW_START, which the warehouse DAG sets.
    Why an environment variable there: a var that differs from the last run's makes dbt
    parse the whole project again in every task, while a changed environment variable
    re-parses only the files that read it. -#}
{% macro window_start_value() -%}
    {{- var('window_start', none) or env_var('GROWTHFLOW_DBT_WINDOW_START', '') -}}
{%- endmacro %}

{% macro window_start(column='delivery_date', relation=none) -%}
    {%- set relation = relation or this -%}
    {%- if window_start_value() -%}
        date '{{ window_start_value() }}'
    {%- elif execute -%}
        {%- set query -%}
            select coalesce(max({{ column }}), date '0001-01-01') - {{ var('lookback_days') | int }} from {{ relation }}
        {%- endset -%}
        date '{{ run_query(query).columns[0].values()[0] }}'
    {%- else -%}
        date '0001-01-01'
    {%- endif -%}
{%- endmacro %}

{#- The window filter on a model's input: everything on a full build. -#}
{% macro in_window(column='delivery_date', own_column='delivery_date') -%}
    {%- if is_incremental() -%} {{ column }} >= {{ window_start(own_column) }} {%- else -%} true {%- endif -%}
{%- endmacro %}

{#- pre_hook: clear the window before appending it again (an index-friendly delete). -#}
{% macro delete_window(column='delivery_date') -%}
    {%- if is_incremental() -%}
        delete from {{ this }} where {{ column }} >= {{ window_start(column) }}
    {%- else -%}
        select 1
    {%- endif -%}
{%- endmacro %}

{#- kpi_segments_daily: the first metric date a run recomputes. A delivery in the window can
    carry events up to `stale_event_tolerance` older than itself (staging accepts them), so
    the days from the window start minus that tolerance (and a day for the time zone) on. -#}
{% macro segments_recompute_from() -%}
    ({{ window_start('delivery_date', ref('fct_events')) }} - interval '{{ var("stale_event_tolerance") }}' - interval '1 day')::date
{%- endmacro %}

{% macro segments_in_window(column) -%}
    {%- if is_incremental() -%} {{ column }} >= {{ segments_recompute_from() }} {%- else -%} true {%- endif -%}
{%- endmacro %}
