create schema if not exists sales;

-- Staging: every validated row of every loaded export file. Written per batch: a file replaces every earlier row
-- of its source. The star schema below is derived from these, so the order in which files arrived never matters.
create table if not exists sales.stg_customers (
    batch_id varchar not null,
    source varchar not null,
    line_number bigint not null,
    export_date date not null,
    customer_id varchar not null,
    name varchar not null,
    email varchar not null,
    country varchar not null,
    segment varchar not null,
    updated_at timestamptz not null
);

create table if not exists sales.stg_orders (
    batch_id varchar not null,
    source varchar not null,
    line_number bigint not null,
    export_date date not null,
    order_id varchar not null,
    customer_id varchar not null,
    order_ts timestamptz not null,
    status varchar not null,
    currency varchar not null,
    updated_at timestamptz not null
);

create table if not exists sales.stg_order_lines (
    batch_id varchar not null,
    source varchar not null,
    line_number bigint not null,
    export_date date not null,
    order_id varchar not null,
    line_no integer not null,
    sku varchar not null,
    quantity bigint not null,
    unit_price decimal(18, 4) not null
);

create table if not exists sales.stg_fx_rates (
    batch_id varchar not null,
    source varchar not null,
    line_number bigint not null,
    export_date date not null,
    day date not null,
    currency varchar not null,
    rate_to_usd decimal(18, 10) not null
);

-- The star schema and marts: rebuilt from staging in one transaction after the loads that changed it.
create table if not exists sales.dim_customer (
    customer_key varchar not null,  -- md5 of '<customer_id>#<version>': the same history gives the same keys
    customer_id varchar not null,
    version integer not null,
    name varchar,  -- null on an inferred member (an order named the customer before any customer row arrived)
    email varchar,
    country varchar,
    segment varchar,
    valid_from timestamptz not null,
    valid_to timestamptz,  -- null on the current version
    is_current boolean not null,
    is_inferred boolean not null,
    updated_at timestamptz,
    source varchar,
    line_number bigint
);

create table if not exists sales.fact_orders (
    order_id varchar not null,
    customer_id varchar not null,
    customer_key varchar not null,
    order_ts timestamptz not null,
    order_day date not null,  -- the UTC day of order_ts
    status varchar not null,
    currency varchar not null,
    updated_at timestamptz not null,
    lines bigint not null,
    items bigint not null,
    amount decimal(38, 4) not null,
    rate_to_usd decimal(18, 10),  -- null when no rate for the day and currency has arrived
    amount_usd decimal(38, 2),
    source varchar not null,
    line_number bigint not null
);

create table if not exists sales.fact_order_lines (
    order_id varchar not null,
    line_no integer not null,
    sku varchar not null,
    quantity bigint not null,
    unit_price decimal(18, 4) not null,
    amount decimal(38, 4) not null,
    customer_key varchar,  -- null, like order_day, while the order itself has not arrived
    order_day date,
    source varchar not null,
    line_number bigint not null
);

create table if not exists sales.fx_rates (
    day date not null,
    currency varchar not null,
    rate_to_usd decimal(18, 10) not null,
    source varchar not null
);

create table if not exists sales.daily_revenue (
    day date not null,
    currency varchar not null,
    orders bigint not null,
    items bigint not null,
    revenue decimal(38, 4) not null,
    rate_to_usd decimal(18, 10),
    revenue_usd decimal(38, 2)  -- null when the day's rate is missing: reported, never guessed
);

create table if not exists sales.customer_lifetime (
    customer_id varchar not null,
    first_order_day date not null,
    last_order_day date not null,
    orders bigint not null,
    lifetime_revenue_usd decimal(38, 2),  -- null while any of the orders lacks its rate
    orders_without_rate bigint not null
);

-- Revenue-bearing orders whose day has no rate for their currency: what revenue_usd is waiting for.
create or replace view sales.missing_fx_rates as
select
    order_day as day,
    currency,
    count(*) as orders,
    sum(amount) as revenue
from sales.fact_orders
where status in ('shipped', 'completed') and rate_to_usd is null
group by order_day, currency;
