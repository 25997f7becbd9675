-- The pipelines whose marts the report can show: those that loaded at least one batch, with the end of their latest
-- load (the report's "data as of"; the same warehouse always gives the same report).
select
    pipeline,
    max(finished_at) as last_loaded_at
from meta.batches
where status = 'loaded'
group by pipeline
order by pipeline
