-- Issue one invoice ($invoice_id for $customer_id in $currency, period $period): its lines from period_lines and
-- period_adjustments, in order (base fees, then usage by segment, metric and tier, then adjustments by period and
-- metric), and its header: the subtotal of the rounded lines, the tax on it ($tax_rate percent, rounded to the
-- currency's minor unit), the total, the customer's name and address, and the due date ($payment_terms_days after issue).
insert into billing.invoice_lines by name
with charges as (
    select
        kind,
        metric,
        description,
        quantity,
        unit_price,
        amount,
        for_period,
        case kind when 'base_fee' then 0 else 1 end as line_group,
        segment_start,
        tier_no,
        plan_id,
        included,
        tier_from,
        tier_to,
        tiers
    from period_lines
    where customer_id = $customer_id and currency = $currency
),

adjustments as (
    select
        'adjustment' as kind,
        metric,
        'usage adjustment for ' || for_period || ': ' || metric as description,
        null::decimal(38, 6) as quantity,
        null::decimal(18, 6) as unit_price,
        amount,
        for_period,
        2 as line_group,
        null::date as segment_start,
        0 as tier_no
    from period_adjustments
    where customer_id = $customer_id and currency = $currency
),

final as (
    select
        $invoice_id as invoice_id,
        cast(row_number() over (
            order by line_group, for_period, segment_start, metric nulls first, tier_no
        ) as integer) as line_no,
        kind,
        metric,
        description,
        quantity,
        unit_price,
        amount,
        for_period,
        plan_id,
        included,
        tier_from,
        tier_to,
        tiers
    from (
        select * from charges
        union all by name
        select * from adjustments
    )
)

select * from final;

insert into billing.invoices by name
with lines as (
    select coalesce(sum(amount), 0)::decimal(20, 3) as subtotal
    from billing.invoice_lines
    where invoice_id = $invoice_id
),

customer as (
    -- the name and address the latest subscriptions file gives, from the customer's latest subscription that has one
    select
        max_by(customer_name, start_date) filter (where customer_name is not null) as customer_name,
        max_by(customer_address, start_date) filter (where customer_address is not null) as customer_address
    from billing.subscriptions
    where customer_id = $customer_id
),

taxed as (
    select
        lines.subtotal,
        -- percent / 100 is exact in Python; the product of two DECIMALs stays exact (a quotient would be a DOUBLE)
        billing.to_minor_unit(lines.subtotal * cast($tax_fraction as decimal(9, 6)), $exponent) as tax
    from lines
)

select
    $invoice_id as invoice_id,
    $customer_id as customer_id,
    $period as period,
    $currency as currency,
    taxed.subtotal,
    cast($tax_rate as decimal(7, 4)) as tax_rate,
    taxed.tax,
    taxed.subtotal + taxed.tax as total,
    'issued' as status,
    $issued_at as issued_at,
    $flow_run_id as flow_run_id,
    customer.customer_name,
    customer.customer_address,
    $payment_terms_days as payment_terms_days,
    cast(timezone('UTC', $issued_at) as date) + $payment_terms_days as due_date
from taxed, customer;
