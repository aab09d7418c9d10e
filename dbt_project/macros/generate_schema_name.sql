{#- Use the schema names as written (staging, marts, dq), not <target>_<name>:
    the warehouse has one fixed layout that roles and grants are built on. -#}
{% macro generate_schema_name(custom_schema_name, node) -%}
    {{ custom_schema_name if custom_schema_name else target.schema }}
{%- endmacro %}
