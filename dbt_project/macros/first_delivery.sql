{#-
  At-least-once delivery: the first delivery of a key (by delivery date, file,
  line) wins. Renders two CTEs:
    numbered          the input with `delivery_rank` (1 = first in this window)
    delivered_before  keys already built from an earlier delivery date
  A row is a duplicate when delivery_rank > 1 or its key is in delivered_before,
  which gives the same verdicts incrementally as on a full build.
  With `day`, a re-delivery is looked up on its own day only: a re-delivered
  record is a copy of the original, so it carries the original's day. The
  (day, key) index then reads and grows at the newest days instead of at random
  places across all history, which keeps a daily run's cost flat as history grows.
-#}
{% macro first_delivery_ctes(key, input='renamed', day=none) -%}
numbered as (

    select
        *,
        row_number() over (
            partition by {{ key }} order by delivery_date, source_file, line_number
        ) as delivery_rank

    from {{ input }}

),

delivered_before as (

    {% if is_incremental() and day %}
    select distinct window_keys.{{ key }}
    from (select distinct {{ day }}, {{ key }} from {{ input }}) as window_keys
    cross join lateral (
        -- one index probe per key of the window
        select 1
        from {{ this }} as earlier
        where earlier.{{ day }} = window_keys.{{ day }}
            and earlier.{{ key }} = window_keys.{{ key }}
            and earlier.delivery_date < {{ window_start() }}
        limit 1
    ) as found
    {% elif is_incremental() %}
    select distinct {{ key }}
    from {{ this }}
    where delivery_date < {{ window_start() }}
        and {{ key }} = any(array(select {{ key }} from {{ input }}))  -- index lookups, not a scan of history
    {% else %}
    select null::text as {{ key }} where false
    {% endif %}

)
{%- endmacro %}
