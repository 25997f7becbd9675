create schema if not exists billing;

-- Staging: every valid row of every loaded file; a file replaces its earlier rows. Invoices are computed from these.
create table if not exists billing.stg_usage (
    batch_id varchar not null,
    source varchar not null,
    line_number bigint not null,
    export_date date not null,
    event_id varchar not null,
    customer_id varchar not null,
    metric varchar not null,
    quantity decimal(18, 6) not null,
    ts timestamptz not null
);

create table if not exists billing.stg_plans (
    batch_id varchar not null,
    source varchar not null,
    line_number bigint not null,
    export_date date not null,  -- the catalogue's effective date
    plan_id varchar not null,
    currency varchar not null,
    base_fee decimal(18, 4) not null,
    metric varchar,
    included decimal(18, 6),
    up_to decimal(18, 6),  -- null: the open-ended last tier
    unit_price decimal(18, 6)
);

create table if not exists billing.stg_subscriptions (
    batch_id varchar not null,
    source varchar not null,
    line_number bigint not null,
    export_date date not null,
    customer_id varchar not null,
    plan_id varchar not null,
    start_date date not null,
    end_date date  -- inclusive; null: open
);

-- ISO 4217 minor units that are not 2 (every other currency has 2 decimals).
create table if not exists billing.currency_exponents (
    currency varchar not null,
    exponent integer not null
);
insert into billing.currency_exponents values
    ('BIF', 0), ('CLP', 0), ('DJF', 0), ('GNF', 0), ('ISK', 0), ('JPY', 0), ('KMF', 0), ('KRW', 0), ('PYG', 0),
    ('RWF', 0), ('UGX', 0), ('VND', 0), ('VUV', 0), ('XAF', 0), ('XOF', 0), ('XPF', 0),
    ('BHD', 3), ('IQD', 3), ('JOD', 3), ('KWD', 3), ('LYD', 3), ('OMR', 3), ('TND', 3);

-- A usage event counts once: its first delivery (earliest export date, then source, then line).
create or replace view billing.usage_events as
select
    event_id,
    customer_id,
    metric,
    quantity,
    ts,
    cast(timezone('UTC', ts) as date) as day,
    source,
    line_number
from billing.stg_usage
qualify row_number() over (partition by event_id order by export_date, source, line_number) = 1;

-- The subscriptions as the latest subscriptions file lists them.
create or replace view billing.subscriptions as
select
    customer_id,
    plan_id,
    start_date,
    end_date
from billing.stg_subscriptions
where (export_date, source) = (
    select (export_date, source)
    from billing.stg_subscriptions
    order by export_date desc, source desc
    limit 1
);

create table if not exists billing.usage_daily (
    day date not null,
    customer_id varchar not null,
    metric varchar not null,
    quantity decimal(38, 6) not null
);

-- Issued invoices are never changed: late usage becomes adjustment lines on a later invoice.
create table if not exists billing.invoices (
    invoice_id varchar not null,
    customer_id varchar not null,
    period varchar not null,  -- YYYY-MM
    currency varchar not null,
    subtotal decimal(38, 3) not null,
    total decimal(38, 3) not null,
    status varchar not null,
    issued_at timestamptz not null,
    flow_run_id varchar
);

create table if not exists billing.invoice_lines (
    invoice_id varchar not null,
    line_no integer not null,
    kind varchar not null,  -- base_fee | usage (a tier, or usage within the included quantity) | adjustment
    metric varchar,
    description varchar not null,
    quantity decimal(38, 6),
    unit_price decimal(18, 6),
    amount decimal(38, 3) not null,  -- rounded to the currency's minor unit, half away from zero
    for_period varchar not null  -- the period the line charges for (an earlier one on adjustment lines)
);

-- Usage that could not be billed, per period: no active subscription, a plan missing from the catalogue, or a
-- metric the plan does not price. Rebuilt whenever the period is computed (invoiced, or recomputed for adjustments).
create table if not exists billing.exceptions (
    period varchar not null,
    customer_id varchar not null,
    event_id varchar,  -- null on a subscription whose plan is missing from the catalogue
    metric varchar,
    quantity decimal(18, 6),
    ts timestamptz,
    reason varchar not null
);

-- An amount rounded half away from zero to its currency's minor unit. Each branch is cast on its own: a CASE takes
-- its first branch's type, which would make every amount whole.
create or replace macro billing.to_minor_unit(amount, exponent) as
    case exponent
        when 0 then round(amount, 0)::decimal(38, 3)
        when 3 then round(amount, 3)::decimal(38, 3)
        else round(amount, 2)::decimal(38, 3)
    end;

-- A decimal as a person writes it: 1000.500000 as 1000.5, 1000.000000 as 1000.
create or replace macro billing.plain(value) as
    regexp_replace(regexp_replace(cast(value as varchar), '(\.[0-9]*?)0+$', '\1'), '\.$', '');
