-- usage_daily holds one row per UTC day, customer and metric of the deduplicated events (billing.usage_events:
-- each event's first delivery), with their summed quantity; unless billing files loaded since the last rebuild.
with pending as (
    select count(*) as dirty
    from meta.dirty_partitions
    where pipeline = 'billing'
),

expected as (
    select
        day,
        customer_id,
        metric,
        sum(quantity) as quantity
    from billing.usage_events
    group by day, customer_id, metric
),

mart as (
    select
        day,
        customer_id,
        metric,
        count(*) as copies,
        sum(quantity) as quantity
    from billing.usage_daily
    group by day, customer_id, metric
),

final as (
    select
        coalesce(expected.day, mart.day) as day,
        coalesce(expected.customer_id, mart.customer_id) as customer_id,
        coalesce(expected.metric, mart.metric) as metric,
        expected.quantity as expected_quantity,
        mart.quantity as mart_quantity,
        coalesce(mart.copies, 0) as mart_rows
    from expected
    full outer join mart
        on
            expected.day = mart.day
            and expected.customer_id = mart.customer_id
            and expected.metric = mart.metric
    where
        expected.quantity is distinct from mart.quantity
        or coalesce(mart.copies, 0) <> 1
)

select final.* from final, pending
where pending.dirty = 0
