{#-
  Incremental processing by delivery date.

  A run reprocesses every delivery date from its window start on: the
  `window_start` var when given (the warehouse DAG passes the earliest delivery
  date that its triggering ingest runs loaded), else the newest delivery date
  already built minus `lookback_days`. The window start is read once, when the
  model compiles, so the pre-hook's delete and the model's select agree.
  Rows of the window are deleted and rebuilt in the model's transaction, which
  makes a rerun or a late file give the same rows as a full refresh.
-#}
{% macro window_start(column='delivery_date', relation=none) -%}
    {%- set relation = relation or this -%}
    {%- if var('window_start', none) -%}
        date '{{ var("window_start") }}'
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
