-- Issue one invoice ($invoice_id for $customer_id in $currency, period $period): its lines from period_lines and
-- period_adjustments, in order (base fees, then usage by segment, metric and tier, then adjustments by period and
-- metric), and its header with the total of the rounded lines.
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
        tier_no
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
        for_period
    from (
        select * from charges
        union all by name
        select * from adjustments
    )
)

select * from final;

insert into billing.invoices by name
select
    $invoice_id as invoice_id,
    $customer_id as customer_id,
    $period as period,
    $currency as currency,
    coalesce(sum(amount), 0) as subtotal,
    coalesce(sum(amount), 0) as total,
    'issued' as status,
    $issued_at as issued_at,
    $flow_run_id as flow_run_id
from billing.invoice_lines
where invoice_id = $invoice_id;
