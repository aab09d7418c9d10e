{#-
  Event dates whose activity must be recounted in this run: the dates of
  events delivered in the window, and every date of a device that signed up in
  the window (its earlier anonymous events now belong to the user).
  The window starts at this model's newest `max_delivery_date` minus the lookback.
-#}
{% macro activity_affected_dates() -%}
    select distinct event_date
    from {{ ref('fct_events') }}
    where delivery_date >= {{ window_start('max_delivery_date') }}
    union
    select distinct event_date
    from {{ ref('fct_events') }}
    -- = any(array(...)): index lookups for the window's few devices, never a scan of history.
    where anonymous_id = any(array(
        select anonymous_id
        from {{ ref('int_acquisition_events') }}
        where event_name = 'signup'
            and delivery_date >= {{ window_start('max_delivery_date') }}
    ))
{%- endmacro %}

{#- `column` is one of the days above. = any(array(...)): the planner cannot
    count the affected days ahead and would scan all history for them; an
    array makes it read them by index. -#}
{% macro in_affected_days(column) -%}
    {{ column }} = any(array({{ activity_affected_dates() }}))
{%- endmacro %}

{#- pre_hook of the per-day activity models: clear the affected days before recounting them. -#}
{% macro delete_affected_days(column='activity_date') -%}
    {%- if is_incremental() -%}
        delete from {{ this }} where {{ in_affected_days(column) }}
    {%- else -%}
        select 1
    {%- endif -%}
{%- endmacro %}
