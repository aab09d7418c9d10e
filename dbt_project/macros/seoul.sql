{#- Business days and weeks are in Asia/Seoul; weeks start on Monday. -#}
{% macro seoul_date(ts) -%} (({{ ts }}) at time zone 'Asia/Seoul')::date {%- endmacro %}
{% macro seoul_week(ts) -%} date_trunc('week', ({{ ts }}) at time zone 'Asia/Seoul')::date {%- endmacro %}
{% macro week_of(day) -%} date_trunc('week', {{ day }})::date {%- endmacro %}
