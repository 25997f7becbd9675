-- Refresh the star schema and the marts for the keys that the loads since the last refresh touched; the machinery
-- then clears the pipeline's dirty list. A load marks days dirty for its rows before it replaces them and after (see
-- the partition days in source.py): customers, orders and order lines by their file's export day, FX rates by the
-- rate's day. Each step takes the keys with a row of a dirty day in staging (rows that arrived) or among what the
-- last refresh derived (rows that may have gone with a replaced file), recomputes those keys from all of their
-- staged rows, and passes on what changed: orders are repriced when their customer's versions, their lines or
-- their rate changed, and the marts follow for those orders' days and customers. So the result is the one a
-- rebuild from scratch gives (tests/support/sales_model_from_scratch.sql; the tests compare the two).
--
-- Every choice between deliveries is made by the data (updated_at) or by precedence: the later export date, then the
-- greater source path, then the greater line number. Never by arrival, so any arrival order gives the same warehouse.

create or replace temporary table refresh_days as
select distinct partition_day as day
from meta.dirty_partitions
where pipeline = 'sales';

-- FX rates: every rate of a dirty day is chosen again; orders whose day and currency got another rate are repriced.
create or replace temporary table rates_before as
select
    day,
    currency,
    rate_to_usd
from sales.fx_rates
where day in (select day from refresh_days);

delete from sales.fx_rates where day in (select day from refresh_days);

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
    where day in (select day from refresh_days)
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

create or replace temporary table changed_rates as
with rates_after as (
    select
        day,
        currency,
        rate_to_usd
    from sales.fx_rates
    where day in (select day from refresh_days)
)

select coalesce(rates_after.day, rates_before.day) as day,
    coalesce(rates_after.currency, rates_before.currency) as currency
from rates_after
full outer join rates_before
    on rates_after.day = rates_before.day and rates_after.currency = rates_before.currency
where rates_after.rate_to_usd is distinct from rates_before.rate_to_usd;

-- Orders: those delivered in a file of a dirty export day, and those whose winning version came from one (it may
-- be gone); each gets its newest version again.
create or replace temporary table touched_orders as
select order_id from sales.stg_orders
where export_date in (select day from refresh_days)
union
select order_id from sales.fact_orders
where export_date in (select day from refresh_days);

-- the newest version is the one with the greatest updated_at, and among several of the same instant the latest
-- delivery's: an aggregate finds each order's greatest updated_at, so that the window sorts only the deliveries of
-- that instant (one per order, mostly; sorting all of them took a third more CPU time). The window ranks keys only,
-- and the winners' rows are fetched by (source, line_number), unique in staging: carrying every column through its
-- sort made it spill under the warehouse's memory limit. Temporary tables count against that limit too, so they
-- leave out batch_id, which nothing after reads.
create or replace temporary table current_orders as
with latest_updates as (
    select
        order_id,
        max(updated_at) as updated_at
    from sales.stg_orders
    where order_id in (select order_id from touched_orders)
    group by order_id
),

newest as (
    select
        source,
        line_number
    from sales.stg_orders
    semi join latest_updates using (order_id, updated_at)
    qualify row_number() over (
        partition by order_id
        order by export_date desc, source desc, line_number desc
    ) = 1
)

select stg_orders.* exclude (batch_id)
from sales.stg_orders as stg_orders
semi join newest on stg_orders.source = newest.source and stg_orders.line_number = newest.line_number;

-- Customers whose deliveries changed: delivered in a file of a dirty export day, now or at the last refresh. Their
-- versions are rebuilt and all their orders repriced. (A state that went with its file may have hidden another of
-- the same instant from another day's file, so the customers a day delivered are kept, not only the versions.)
create or replace temporary table changed_customers as
select customer_id from sales.stg_customers
where export_date in (select day from refresh_days)
union
select customer_id from sales.customer_deliveries
where export_date in (select day from refresh_days);

delete from sales.customer_deliveries where export_date in (select day from refresh_days);

insert into sales.customer_deliveries by name
select distinct
    customer_id,
    export_date
from sales.stg_customers
where export_date in (select day from refresh_days);

-- and the customers a touched order names now or named before: an inferred member comes and goes with its orders,
-- while the versions of a customer with known states stay as they are
create or replace temporary table touched_customers as
select customer_id from changed_customers
union
select customer_id from current_orders
union
select customer_id from sales.fact_orders
where order_id in (select order_id from touched_orders);

delete from sales.dim_customer where customer_id in (select customer_id from touched_customers);

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
    where customer_id in (select customer_id from touched_customers)
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

ordering_customers as (
    -- the touched customers named by an order's newest version: a touched order's, or an untouched order's fact
    select customer_id from current_orders
    where customer_id in (select customer_id from touched_customers)
    union
    select customer_id from sales.fact_orders
    where
        customer_id in (select customer_id from touched_customers)
        and order_id not in (select order_id from touched_orders)
),

inferred as (
    select
        md5(customer_id || '#1') as customer_key,
        customer_id,
        1 as version,
        timestamptz '1900-01-01 00:00:00+00' as valid_from,
        true as is_current,
        true as is_inferred
    from ordering_customers
    where customer_id not in (select customer_id from known)
),

final as (
    select * from known
    union all by name
    select * from inferred
)

select * from final;

-- The orders to price again: the touched ones, those whose lines changed, those of a customer whose deliveries
-- changed, and those whose day and currency got another rate.
create or replace temporary table touched_line_orders as
select order_id from sales.stg_order_lines
where export_date in (select day from refresh_days)
union
select order_id from sales.fact_order_lines
where export_date in (select day from refresh_days);

create or replace temporary table refresh_orders as
select order_id from touched_orders
union
select order_id from touched_line_orders
union
select order_id from sales.fact_orders
where customer_id in (select customer_id from changed_customers)
union
select fact_orders.order_id
from sales.fact_orders as fact_orders
inner join changed_rates on fact_orders.order_day = changed_rates.day and fact_orders.currency = changed_rates.currency;

-- their newest versions: a touched order's from staging (current_orders), another's as its fact holds it; the view
-- refreshed_orders joins the two without copying current_orders, which on a first load holds every order and spilled
create or replace temporary table untouched_orders as
select
    order_id,
    customer_id,
    order_ts,
    status,
    currency,
    updated_at,
    source,
    line_number,
    export_date
from sales.fact_orders
where
    order_id in (select order_id from refresh_orders)
    and order_id not in (select order_id from touched_orders);

create or replace temporary view refreshed_orders as
select * from current_orders
union all by name
select * from untouched_orders;

-- the days and customers whose marts change: those of the refreshed orders' facts before, and after
create or replace temporary table refresh_marts_keys as
select
    order_day as day,
    customer_id
from sales.fact_orders
where order_id in (select order_id from refresh_orders)
union
select
    cast(timezone('UTC', order_ts) as date) as day,
    customer_id
from refreshed_orders;

create or replace temporary table current_order_lines as
-- an order's lines are those of the latest file that delivered any: a correction replaces the whole set. An
-- aggregate finds that file, a lighter pass than ranking every line with all its columns.
with latest as (
    select
        order_id,
        max({'export_date': export_date, 'source': source}).source as source
    from sales.stg_order_lines
    where order_id in (select order_id from refresh_orders)
    group by order_id
)

select stg_order_lines.* exclude (batch_id)
from sales.stg_order_lines as stg_order_lines
semi join latest on stg_order_lines.order_id = latest.order_id and stg_order_lines.source = latest.source;

delete from sales.fact_orders where order_id in (select order_id from refresh_orders);

insert into sales.fact_orders by name
with orders as (
    select
        *,
        cast(timezone('UTC', order_ts) as date) as order_day
    from refreshed_orders
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

delete from sales.fact_order_lines where order_id in (select order_id from refresh_orders);

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

delete from sales.daily_revenue where day in (select day from refresh_marts_keys);

insert into sales.daily_revenue by name
with revenue_orders as (
    select *
    from sales.fact_orders
    where status in ('shipped', 'completed') and order_day in (select day from refresh_marts_keys)
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

delete from sales.customer_lifetime where customer_id in (select customer_id from refresh_marts_keys);

insert into sales.customer_lifetime by name
with revenue_orders as (
    select *
    from sales.fact_orders
    where status in ('shipped', 'completed') and customer_id in (select customer_id from refresh_marts_keys)
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

drop table refresh_days;
drop table rates_before;
drop table changed_rates;
drop table touched_orders;
drop table current_orders;
drop table changed_customers;
drop table touched_customers;
drop table touched_line_orders;
drop table refresh_orders;
drop view refreshed_orders;
drop table untouched_orders;
drop table refresh_marts_keys;
drop table current_order_lines;
