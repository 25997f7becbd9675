-- The latest runs of every pipeline (or of $pipeline), newest first: flows/status.py's table of runs.
select
    pipeline,
    flow_run_id,
    flow_run_name,
    started_at,
    finished_at,
    state,
    reason,
    batches,
    batches_failed,
    already_loaded,
    rows_in,
    rows_loaded,
    rows_rejected,
    reject_rate,
    seconds,
    rows_per_second,
    peak_memory_bytes
from meta.runs
where cast($pipeline as varchar) is null or pipeline = $pipeline
order by started_at desc, pipeline
limit $limit
