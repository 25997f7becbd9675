-- Every invoice has at least one line, its subtotal is the sum of its lines' (rounded) amounts and its total the
-- subtotal plus its tax, and no line belongs to an invoice that does not exist.
with line_totals as (
    select
        invoice_id,
        count(*) as lines,
        sum(amount) as amount
    from billing.invoice_lines
    group by invoice_id
),

final as (
    select
        coalesce(invoices.invoice_id, line_totals.invoice_id) as invoice_id,
        invoices.subtotal,
        invoices.total,
        invoices.tax,
        coalesce(line_totals.lines, 0) as lines,
        line_totals.amount as lines_amount
    from billing.invoices as invoices
    full outer join line_totals on invoices.invoice_id = line_totals.invoice_id
)

select * from final
where
    lines = 0
    or subtotal is distinct from lines_amount
    or total is distinct from lines_amount + coalesce(tax, 0)
