{#-
  Devices whose dim_users row a run must rebuild: those with funnel events
  delivered in the window, those whose row came from the window before (a
  reprocessed window may have lost their events), and the devices of users
  charged in the window (their first purchase may move).
-#}
{% macro dim_users_affected_devices() -%}
    select anonymous_id
    from {{ ref('int_acquisition_events') }}
    where delivery_date >= {{ window_start('max_delivery_date') }}
    union
    select anonymous_id
    from {{ this }}
    where max_delivery_date >= {{ window_start('max_delivery_date') }}
    union
    select anonymous_id
    from {{ this }}
    where user_id = any(array(
        select user_id
        from {{ ref('fct_payments') }}
        where delivery_date >= {{ window_start('max_delivery_date') }}
            and payment_type = 'charge'
    ))
{%- endmacro %}
