-- One row per pipeline run, written when the run reports (tasks/observability/monitoring.py): what it read, loaded and rejected,
-- how fast, and how it ended. A retry or a re-run of the same flow run replaces its row. A run killed before it
-- reports has no row; its batches are still in meta.batches.
create table if not exists meta.runs (
    pipeline varchar not null,
    flow_run_id varchar not null,
    flow_run_name varchar,
    started_at timestamptz not null,  -- when the run began its work (discovery), not when Prefect scheduled it
    finished_at timestamptz not null,  -- when it reported
    state varchar not null,  -- completed | failed (a batch failed) | rejects_over_threshold (all loaded, too many rejects)
    reason varchar,  -- why it is not completed: the failed batches, then the batches over the threshold
    batches bigint not null,  -- batches loaded by this run
    batches_failed bigint not null,
    already_loaded bigint not null,  -- batches skipped because the ledger holds their content
    rows_in bigint not null,
    rows_loaded bigint not null,
    rows_rejected bigint not null,
    reject_rate double,  -- rows_rejected / rows_in; NULL when the run read nothing
    max_batch_reject_rate double,  -- the worst batch's; NULL when no batch read a row
    reject_rate_threshold double not null,  -- a batch over it fails the run (it still loads)
    bytes_read bigint not null,
    seconds double not null,
    rows_per_second double,  -- rows_in / seconds; NULL when the run read nothing
    -- peak resident memory of the flow's process so far (getrusage ru_maxrss): process-wide, so it includes
    -- whatever else ran in that process before; tasks on a Dask cluster's workers are not in it. NULL where unknown.
    peak_memory_bytes bigint
);
