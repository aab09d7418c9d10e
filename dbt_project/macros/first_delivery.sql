{#-
  At-least-once delivery: the first delivery of a key (by delivery date, file,
  line) wins. Renders two CTEs:
    numbered          the input with `delivery_rank` (1 = first in this window)
    delivered_before  keys already built from an earlier delivery date
  A row is a duplicate when delivery_rank > 1 or its key is in delivered_before,
  which gives the same verdicts incrementally as on a full build.
-#}
{% macro first_delivery_ctes(key, input='renamed') -%}
numbered as (

    select
        *,
        row_number() over (
            partition by {{ key }} order by delivery_date, source_file, line_number
        ) as delivery_rank

    from {{ input }}

),

delivered_before as (

    {% if is_incremental() %}
    select distinct {{ key }}
    from {{ this }}
    where delivery_date < {{ window_start() }}
        and {{ key }} = any(array(select {{ key }} from {{ input }}))  -- index lookups, not a scan of history
    {% else %}
    select null::text as {{ key }} where false
    {% endif %}

)
{%- endmacro %}
