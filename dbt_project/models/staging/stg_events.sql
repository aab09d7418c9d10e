with

checked as (

    select * from {{ ref('stg_events_checked') }}

),

staged as (

    select
        event_id,
        event_name,
        event_at,
        event_date,
        received_at,
        anonymous_id,
        user_id,
        platform,
        app_version,
        campaign_id,
        channel,
        properties,
        delivery_date,
        source_file,
        line_number

    from checked
    where row_status = 'staged'

)

select * from staged
