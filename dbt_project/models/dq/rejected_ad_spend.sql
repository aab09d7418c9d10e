with

checked as (

    select * from {{ ref('stg_ad_spend_checked') }}

),

not_staged as (

    -- Rows kept out of staging, with the rule that kept them out.
    select * from checked
    where row_status <> 'staged'

)

select * from not_staged
