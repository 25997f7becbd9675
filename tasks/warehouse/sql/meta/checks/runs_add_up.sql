-- Every recorded run: rows in = rows loaded + rows rejected, its reject rate is what those rows give, and its state
-- agrees with its failed batches and the worst reject rate of the batches its threshold applies to (those of at
-- least reject_rate_min_rows rows and those rejected whole; every batch for a run recorded before that column).
select
    pipeline,
    flow_run_id,
    state,
    rows_in,
    rows_loaded,
    rows_rejected,
    reject_rate,
    batches_failed,
    max_batch_reject_rate,
    max_guarded_batch_reject_rate,
    reject_rate_threshold,
    reject_rate_min_rows
from meta.runs
where
    rows_in <> rows_loaded + rows_rejected
    or reject_rate is distinct from rows_rejected / nullif(rows_in, 0)
    or state <> case
        when batches_failed > 0 then 'failed'
        when reject_rate_min_rows is null and max_batch_reject_rate > reject_rate_threshold then 'rejects_over_threshold'
        when max_guarded_batch_reject_rate > reject_rate_threshold then 'rejects_over_threshold'
        else 'completed'
    end
