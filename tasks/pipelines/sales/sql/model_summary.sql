-- One row: what the star schema holds, and what it waits for.
select
    (select count(distinct customer_id) from sales.dim_customer) as customers,
    (select count(*) from sales.dim_customer) as customer_versions,
    (select count(*) from sales.dim_customer where is_inferred) as inferred_customers,
    (select count(*) from sales.fact_orders) as orders,
    (select count(*) from sales.fact_order_lines) as order_lines,
    (select count(*) from sales.fact_order_lines where order_day is null) as lines_waiting_for_their_order,
    (select count(*) from sales.daily_revenue) as daily_revenue_rows,
    (select count(*) from sales.daily_revenue where revenue_usd is null) as days_missing_a_rate
