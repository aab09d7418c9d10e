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
