-- Every loaded access-log batch has exactly the rows the ledger says it loaded, and no requests belong to a batch
-- that is not loaded.
with loaded as (
    select
        batch_id,
        source,
        rows_loaded
    from meta.batches
    where pipeline = 'access_logs' and status = 'loaded'
),

kept as (
    select
        batch_id,
        count(*) as requests_kept
    from logs.requests
    group by batch_id
),

final as (
    select
        coalesce(loaded.batch_id, kept.batch_id) as batch_id,
        loaded.source,
        coalesce(loaded.rows_loaded, 0) as rows_loaded,
        coalesce(kept.requests_kept, 0) as requests_kept
    from loaded
    full outer join kept on loaded.batch_id = kept.batch_id
)

select * from final
where rows_loaded <> requests_kept
