-- Every loaded sales export has exactly the staging rows the ledger says it loaded, and no staging rows belong to
-- an export that is not loaded.
with loaded as (
    select
        batch_id,
        source,
        rows_loaded
    from meta.batches
    where pipeline = 'sales' and status = 'loaded'
),

staged as (
    select batch_id from sales.stg_customers
    union all
    select batch_id from sales.stg_orders
    union all
    select batch_id from sales.stg_order_lines
    union all
    select batch_id from sales.stg_fx_rates
),

kept as (
    select
        batch_id,
        count(*) as rows_kept
    from staged
    group by batch_id
),

final as (
    select
        coalesce(loaded.batch_id, kept.batch_id) as batch_id,
        loaded.source,
        coalesce(loaded.rows_loaded, 0) as rows_loaded,
        coalesce(kept.rows_kept, 0) as rows_kept
    from loaded
    full outer join kept on loaded.batch_id = kept.batch_id
)

select * from final
where rows_loaded <> rows_kept
