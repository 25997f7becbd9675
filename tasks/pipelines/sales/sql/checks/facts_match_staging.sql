-- Every order in staging is in fact_orders once, every order line of the winning deliveries is in
-- fact_order_lines, and each order's lines, items and amount add up to its lines.
with pending as (
    select count(*) as dirty
    from meta.dirty_partitions
    where pipeline = 'sales'
),

staged_orders as (
    select distinct order_id from sales.stg_orders
),

order_facts as (
    select
        order_id,
        count(*) as copies
    from sales.fact_orders
    group by order_id
),

line_totals as (
    select
        order_id,
        count(*) as lines,
        sum(quantity) as items,
        sum(amount) as amount
    from sales.fact_order_lines
    group by order_id
),

missing_or_repeated as (
    select
        coalesce(staged_orders.order_id, order_facts.order_id) as order_id,
        'in staging ' || (staged_orders.order_id is not null) || ', in facts ' || coalesce(order_facts.copies, 0)
        || ' times' as problem
    from staged_orders
    full outer join order_facts on staged_orders.order_id = order_facts.order_id
    where order_facts.copies is distinct from 1 or staged_orders.order_id is null
),

not_adding_up as (
    select
        orders.order_id,
        'lines/items/amount ' || orders.lines || '/' || orders.items || '/' || orders.amount || ' but its lines say '
        || coalesce(line_totals.lines, 0) || '/' || coalesce(line_totals.items, 0) || '/'
        || coalesce(line_totals.amount, 0) as problem
    from sales.fact_orders as orders
    left join line_totals on orders.order_id = line_totals.order_id
    where
        orders.lines <> coalesce(line_totals.lines, 0)
        or orders.items <> coalesce(line_totals.items, 0)
        or orders.amount <> coalesce(line_totals.amount, 0)
),

final as (
    select * from missing_or_repeated
    union all
    select * from not_adding_up
)

select final.* from final, pending
where pending.dirty = 0
