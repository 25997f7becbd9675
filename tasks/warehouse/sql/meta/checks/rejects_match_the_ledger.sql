-- Every loaded batch keeps exactly as many reject rows as the ledger says it rejected, and no batch that is not
-- loaded keeps any.
with loaded as (
    select
        batch_id,
        source,
        rows_rejected
    from meta.batches
    where status = 'loaded'
),

kept as (
    select
        batch_id,
        count(*) as rejects_kept
    from meta.rejects
    group by batch_id
),

final as (
    select
        coalesce(loaded.batch_id, kept.batch_id) as batch_id,
        loaded.source,
        coalesce(loaded.rows_rejected, 0) as rows_rejected,
        coalesce(kept.rejects_kept, 0) as rejects_kept
    from loaded
    full outer join kept on loaded.batch_id = kept.batch_id
)

select * from final
where rows_rejected <> rejects_kept
