-- The sales star schema and marts rebuilt whole from every loaded export (sales.stg_*), in the plainest form of the
-- rules: what tasks/pipelines/sales/sql/refresh_marts.sql, which refreshes only the keys the loads touched, must
-- equal. The tests compare the two on warehouses loaded in pieces, and bench/sales.py runs this as the hand-written
-- SQL. Every choice between deliveries is made by the data (updated_at) or by precedence: the later export date,
-- then the greater source path, then the greater line number. Never by arrival.

delete from sales.fx_rates;
insert into sales.fx_rates by name
with deliveries as (
    select
        day,
        currency,
        rate_to_usd,
        source,
        row_number() over (
            partition by day, currency
            order by export_date desc, source desc, line_number desc
        ) as precedence
    from sales.stg_fx_rates
),

final as (
    select
        day,
        currency,
        rate_to_usd,
        source
    from deliveries
    where precedence = 1
)

select * from final;

create or replace temporary table current_orders as
with deliveries as (
    select
        *,
        row_number() over (
            partition by order_id
            order by updated_at desc, export_date desc, source desc, line_number desc
        ) as precedence
    from sales.stg_orders
)

select * exclude (precedence)
from deliveries
where precedence = 1;

delete from sales.dim_customer;
insert into sales.dim_customer by name
with deliveries as (
    select
        customer_id,
        name,
        email,
        country,
        segment,
        updated_at,
        source,
        line_number,
        row_number() over (
            partition by customer_id, updated_at
            order by export_date desc, source desc, line_number desc
        ) as precedence
    from sales.stg_customers
),

states as (
    select
        *,
        (name, email, country, segment) is distinct from lag((name, email, country, segment)) over (
            partition by customer_id order by updated_at
        ) as opens_version
    from deliveries
    where precedence = 1
),

versions as (
    select
        customer_id,
        cast(row_number() over (partition by customer_id order by updated_at) as integer) as version,
        name,
        email,
        country,
        segment,
        updated_at,
        lead(updated_at) over (partition by customer_id order by updated_at) as next_version_from,
        source,
        line_number
    from states
    where opens_version
),

known as (
    select
        md5(customer_id || '#' || version) as customer_key,
        customer_id,
        version,
        name,
        email,
        country,
        segment,
        -- the first version also covers orders placed before the first state an export showed
        case when version = 1 then timestamptz '1900-01-01 00:00:00+00' else updated_at end as valid_from,
        next_version_from as valid_to,
        next_version_from is null as is_current,
        false as is_inferred,
        updated_at,
        source,
        line_number
    from versions
),

inferred as (
    select distinct
        md5(customer_id || '#1') as customer_key,
        customer_id,
        1 as version,
        timestamptz '1900-01-01 00:00:00+00' as valid_from,
        true as is_current,
        true as is_inferred
    from current_orders
    where customer_id not in (select customer_id from known)
),

final as (
    select * from known
    union all by name
    select * from inferred
)

select * from final;

create or replace temporary table current_order_lines as
-- an order's lines are those of the latest file that delivered any: a correction replaces the whole set
select *
from sales.stg_order_lines
qualify dense_rank() over (partition by order_id order by export_date desc, source desc) = 1;

delete from sales.fact_orders;
insert into sales.fact_orders by name
with orders as (
    select
        *,
        cast(timezone('UTC', order_ts) as date) as order_day
    from current_orders
),

line_totals as (
    select
        order_id,
        count(*) as lines,
        sum(quantity) as items,
        sum(quantity * unit_price) as amount
    from current_order_lines
    group by order_id
),

customer_versions as (
    select
        customer_id,
        customer_key,
        valid_from,
        valid_to
    from sales.dim_customer
),

priced as (
    select
        orders.order_id,
        orders.customer_id,
        customer_versions.customer_key,
        orders.order_ts,
        orders.order_day,
        orders.status,
        orders.currency,
        orders.updated_at,
        coalesce(line_totals.lines, 0) as lines,
        coalesce(line_totals.items, 0) as items,
        coalesce(line_totals.amount, 0) as amount,
        case when orders.currency = 'USD' then 1 else fx_rates.rate_to_usd end as order_rate,
        orders.source,
        orders.line_number,
        orders.export_date
    from orders
    inner join customer_versions
        on
            orders.customer_id = customer_versions.customer_id
            and orders.order_ts >= customer_versions.valid_from
            and (customer_versions.valid_to is null or orders.order_ts < customer_versions.valid_to)
    left join line_totals on orders.order_id = line_totals.order_id
    left join sales.fx_rates as fx_rates
        on orders.order_day = fx_rates.day and orders.currency = fx_rates.currency
),

final as (
    select
        * exclude (order_rate),
        order_rate as rate_to_usd,
        -- half away from zero, in DECIMAL: each order is converted and rounded to the cent, then summed
        round(amount * order_rate, 2) as amount_usd
    from priced
)

select * from final;

delete from sales.fact_order_lines;
insert into sales.fact_order_lines by name
select
    lines.order_id,
    lines.line_no,
    lines.sku,
    lines.quantity,
    lines.unit_price,
    lines.quantity * lines.unit_price as amount,
    orders.customer_key,
    orders.order_day,
    lines.source,
    lines.line_number,
    lines.export_date
from current_order_lines as lines
left join sales.fact_orders as orders on lines.order_id = orders.order_id;

delete from sales.daily_revenue;
insert into sales.daily_revenue by name
with revenue_orders as (
    select *
    from sales.fact_orders
    where status in ('shipped', 'completed')
),

final as (
    select
        order_day as day,
        currency,
        count(*) as orders,
        sum(items) as items,
        sum(amount) as revenue,
        any_value(rate_to_usd) as rate_to_usd,
        case when count(amount_usd) = count(*) then sum(amount_usd) end as revenue_usd
    from revenue_orders
    group by order_day, currency
)

select * from final;

delete from sales.customer_lifetime;
insert into sales.customer_lifetime by name
with revenue_orders as (
    select *
    from sales.fact_orders
    where status in ('shipped', 'completed')
),

final as (
    select
        customer_id,
        min(order_day) as first_order_day,
        max(order_day) as last_order_day,
        count(*) as orders,
        case when count(amount_usd) = count(*) then sum(amount_usd) end as lifetime_revenue_usd,
        count(*) - count(amount_usd) as orders_without_rate
    from revenue_orders
    group by customer_id
)

select * from final;

drop table current_orders;
drop table current_order_lines;
