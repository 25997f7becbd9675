-- Customers of the period: new ones placed their first shipped or completed order in it (sales.customer_lifetime),
-- active ones placed any (sales.fact_orders, the orders the revenue marts count).
with new_customers as (
    select count(*) as new_customers
    from sales.customer_lifetime
    where first_order_day >= $first_day
        and first_order_day < $next_day
),

active_customers as (
    select count(distinct customer_id) as active_customers
    from sales.fact_orders
    where status in ('shipped', 'completed')
        and order_day >= $first_day
        and order_day < $next_day
),

final as (
    select
        new_customers.new_customers,
        active_customers.active_customers
    from new_customers
    cross join active_customers
)

select * from final
