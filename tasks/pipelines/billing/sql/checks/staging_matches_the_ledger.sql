-- Every loaded billing file has exactly the staging rows the ledger says it loaded, and no staging rows belong to a
-- file that is not loaded.
with loaded as (
    select
        batch_id,
        source,
        rows_loaded
    from meta.batches
    where pipeline = 'billing' and status = 'loaded'
),

staged as (
    select batch_id from billing.stg_usage
    union all
    select batch_id from billing.stg_plans
    union all
    select batch_id from billing.stg_subscriptions
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
