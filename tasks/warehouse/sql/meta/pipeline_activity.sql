-- Per pipeline (or for $pipeline): its latest run and its latest successful load, for flows/status.py's verdicts.
-- The last load comes from the ledger, so it counts a run that loaded and then crashed before writing meta.runs,
-- and loads older than meta.runs itself.
with runs as (
    select
        pipeline,
        started_at,
        state,
        reason,
        row_number() over (partition by pipeline order by started_at desc, finished_at desc) as recency
    from meta.runs
),

latest_runs as (
    select
        pipeline,
        started_at as last_run_at,
        state as last_run_state,
        reason as last_run_reason
    from runs
    where recency = 1
),

loads as (
    select
        pipeline,
        max(finished_at) as last_loaded_at
    from meta.batches
    where status in ('loaded', 'replaced')
    group by pipeline
),

pipelines as (
    select pipeline from meta.runs
    union
    select pipeline from meta.batches
),

final as (
    select
        pipelines.pipeline,
        latest_runs.last_run_at,
        latest_runs.last_run_state,
        latest_runs.last_run_reason,
        loads.last_loaded_at
    from pipelines
    left join latest_runs on latest_runs.pipeline = pipelines.pipeline
    left join loads on loads.pipeline = pipelines.pipeline
    where cast($pipeline as varchar) is null or pipelines.pipeline = $pipeline
)

select * from final
order by pipeline
