-- Late usage of an invoiced period ($for_period, whose charges were just recomputed into `recomputed`): per
-- customer, currency and metric, what today's usage costs less what was billed for that period so far (its
-- invoices' usage lines and later adjustments), appended to period_adjustments when not zero.
insert into period_adjustments by name
with recomputed_usage as (
    select
        customer_id,
        currency,
        metric,
        sum(amount) as amount
    from recomputed
    where kind = 'usage'
    group by all
),

billed as (
    select
        invoices.customer_id,
        invoices.currency,
        lines.metric,
        sum(lines.amount) as amount
    from billing.invoice_lines as lines
    inner join billing.invoices as invoices on lines.invoice_id = invoices.invoice_id
    where lines.for_period = $for_period and lines.kind in ('usage', 'adjustment')
    group by all
),

invoiced_customers as (
    select distinct
        customer_id,
        currency
    from billing.invoices
    where period = $for_period
),

final as (
    select
        coalesce(recomputed_usage.customer_id, billed.customer_id) as customer_id,
        coalesce(recomputed_usage.currency, billed.currency) as currency,
        coalesce(recomputed_usage.metric, billed.metric) as metric,
        $for_period as for_period,
        coalesce(recomputed_usage.amount, 0) - coalesce(billed.amount, 0) as amount
    from recomputed_usage
    full outer join billed
        on
            recomputed_usage.customer_id = billed.customer_id
            and recomputed_usage.currency = billed.currency
            and recomputed_usage.metric = billed.metric
)

select final.*
from final
semi join invoiced_customers using (customer_id, currency)
where final.amount <> 0
