-- What an invoice document needs besides its lines (issue 18): the customer's name and address, the tax charged and
-- when the invoice is due, kept on the invoice when it is issued (an issued invoice never changes, whatever the
-- settings or the subscriptions say later), and each usage line's tier, so the document can word it.

-- Optional columns of the subscriptions file: the customer's name and postal address as the invoice shows them.
alter table billing.stg_subscriptions add column if not exists customer_name varchar;
alter table billing.stg_subscriptions add column if not exists customer_address varchar;

create or replace view billing.subscriptions as
select
    customer_id,
    plan_id,
    start_date,
    end_date,
    customer_name,
    customer_address
from billing.stg_subscriptions
where (export_date, source) = (
    select (export_date, source)
    from billing.stg_subscriptions
    order by export_date desc, source desc
    limit 1
);

alter table billing.invoices add column if not exists customer_name varchar;  -- null: none on file when issued
alter table billing.invoices add column if not exists customer_address varchar;
alter table billing.invoices add column if not exists tax_rate decimal(7, 4) default 0;  -- percent of the subtotal
alter table billing.invoices add column if not exists tax decimal(38, 3) default 0;  -- rounded to the minor unit
alter table billing.invoices add column if not exists payment_terms_days integer;  -- null on invoices issued before
alter table billing.invoices add column if not exists due_date date;

-- A line's plan and, on a usage line, its place in its metric's price list: the included quantity, the tier's bounds of the billable
-- quantity (tier_to null: open-ended) and how many tiers the metric has; null on other lines.
alter table billing.invoice_lines add column if not exists plan_id varchar;
alter table billing.invoice_lines add column if not exists included decimal(18, 6);
alter table billing.invoice_lines add column if not exists tier_from decimal(18, 6);
alter table billing.invoice_lines add column if not exists tier_to decimal(18, 6);
alter table billing.invoice_lines add column if not exists tiers integer;
