-- Invoices issued for the billing periods (calendar months) the report's period touches, per month and currency,
-- from billing.invoices.
with invoices as (
    select
        period,
        currency,
        total
    from billing.invoices
    where list_contains($months, period)
),

exponents as (
    select
        currency,
        exponent
    from billing.currency_exponents
),

final as (
    select
        invoices.period,
        invoices.currency,
        count(*) as invoices,
        sum(invoices.total) as total,
        coalesce(any_value(exponents.exponent), 2) as exponent  -- decimals of the currency's minor unit
    from invoices
    left join exponents on invoices.currency = exponents.currency
    group by invoices.period, invoices.currency
)

select * from final
order by period, currency
