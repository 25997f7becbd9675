-- The star schema is refreshed for the keys the loads touched (refresh_marts.sql), not rebuilt from scratch. To find
-- the order facts and lines whose delivering file was replaced, each keeps the export day of the row it came from;
-- and since a customer's state that goes with its file may have hidden another of the same instant, the refresh
-- keeps which customers each export day delivered.
alter table sales.fact_orders add column if not exists export_date date;
alter table sales.fact_order_lines add column if not exists export_date date;

create table if not exists sales.customer_deliveries (
    customer_id varchar not null,
    export_date date not null
);

-- Rows derived before this version lack those days: empty the star schema and mark every day of staging dirty, so
-- the next refresh rebuilds all of it from staging, as before.
delete from sales.dim_customer;
delete from sales.fact_orders;
delete from sales.fact_order_lines;
delete from sales.fx_rates;
delete from sales.daily_revenue;
delete from sales.customer_lifetime;
insert into meta.dirty_partitions by name
select distinct
    'sales' as pipeline,
    partition_day
from (
    select export_date as partition_day from sales.stg_customers
    union all
    select export_date from sales.stg_orders
    union all
    select export_date from sales.stg_order_lines
    union all
    select day from sales.stg_fx_rates
);
