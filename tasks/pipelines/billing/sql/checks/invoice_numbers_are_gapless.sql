-- A period's invoices are numbered INV-<YYYYMM of the period>-<6 digits>, 1..n with no gap and no repeat.
with numbered as (
    select
        invoice_id,
        period,
        regexp_full_match(invoice_id, 'INV-[0-9]{6}-[0-9]{6}')
        and substr(invoice_id, 5, 6) = replace(period, '-', '') as well_formed,
        try_cast(substr(invoice_id, 12) as integer) as number,
        row_number() over (
            partition by period order by try_cast(substr(invoice_id, 12) as integer) nulls last, invoice_id
        ) as position
    from billing.invoices
),

final as (
    select
        period,
        invoice_id,
        number,
        position as expected_number,
        well_formed
    from numbered
    where not well_formed or number is distinct from position
)

select * from final
