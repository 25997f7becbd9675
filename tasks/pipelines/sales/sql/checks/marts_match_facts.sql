-- daily_revenue and customer_lifetime agree with the shipped and completed orders of fact_orders.
with pending as (
    select count(*) as dirty
    from meta.dirty_partitions
    where pipeline = 'sales'
),

revenue_orders as (
    select *
    from sales.fact_orders
    where status in ('shipped', 'completed')
),

expected_daily as (
    select
        order_day as day,
        currency,
        count(*) as orders,
        sum(items) as items,
        sum(amount) as revenue,
        case when count(amount_usd) = count(*) then sum(amount_usd) end as revenue_usd
    from revenue_orders
    group by order_day, currency
),

daily_differences as (
    select
        'daily_revenue ' || coalesce(expected.day, mart.day) || ' ' || coalesce(expected.currency, mart.currency)
        as mart_row,
        expected.revenue as expected_revenue,
        mart.revenue as mart_revenue,
        expected.revenue_usd as expected_revenue_usd,
        mart.revenue_usd as mart_revenue_usd
    from expected_daily as expected
    full outer join sales.daily_revenue as mart on expected.day = mart.day and expected.currency = mart.currency
    where
        expected.orders is distinct from mart.orders
        or expected.items is distinct from mart.items
        or expected.revenue is distinct from mart.revenue
        or expected.revenue_usd is distinct from mart.revenue_usd
),

expected_lifetime as (
    select
        customer_id,
        min(order_day) as first_order_day,
        max(order_day) as last_order_day,
        count(*) as orders,
        case when count(amount_usd) = count(*) then sum(amount_usd) end as lifetime_revenue_usd
    from revenue_orders
    group by customer_id
),

lifetime_differences as (
    select
        'customer_lifetime ' || coalesce(expected.customer_id, mart.customer_id) as mart_row,
        null as expected_revenue,
        null as mart_revenue,
        expected.lifetime_revenue_usd as expected_revenue_usd,
        mart.lifetime_revenue_usd as mart_revenue_usd
    from expected_lifetime as expected
    full outer join sales.customer_lifetime as mart on expected.customer_id = mart.customer_id
    where
        expected.orders is distinct from mart.orders
        or expected.first_order_day is distinct from mart.first_order_day
        or expected.last_order_day is distinct from mart.last_order_day
        or expected.lifetime_revenue_usd is distinct from mart.lifetime_revenue_usd
),

final as (
    select * from daily_differences
    union all
    select * from lifetime_differences
)

select final.* from final, pending
where pending.dirty = 0
