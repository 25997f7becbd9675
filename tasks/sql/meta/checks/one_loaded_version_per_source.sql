-- A source file has at most one loaded version: a changed file replaces its earlier rows.
select
    pipeline,
    source,
    count(*) as loaded_versions
from meta.batches
where status = 'loaded'
group by pipeline, source
having count(*) > 1
