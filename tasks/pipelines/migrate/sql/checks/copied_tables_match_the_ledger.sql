-- Every table whose copy is done has one loaded ledger entry, with the rows the checkpoint counted.
with done as (
    select
        source,
        target_table,
        rows_copied,
        rows_rejected
    from migrate.checkpoints
    where status = 'done'
),

loaded as (
    select
        source,
        rows_loaded,
        rows_rejected
    from meta.batches
    where pipeline = 'migrate' and status = 'loaded'
),

final as (
    select
        done.source,
        done.target_table,
        done.rows_copied,
        done.rows_rejected,
        loaded.rows_loaded as ledger_rows_loaded,
        loaded.rows_rejected as ledger_rows_rejected
    from done
    left join loaded on done.source = loaded.source
)

select * from final
where ledger_rows_loaded is distinct from rows_copied
    or ledger_rows_rejected is distinct from rows_rejected
