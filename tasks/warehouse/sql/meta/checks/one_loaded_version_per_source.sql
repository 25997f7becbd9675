-- A source file loaded whole has at most one loaded version: a changed file replaces its earlier rows. (A log is
-- loaded as ranges of its stream instead, several of them loaded at once: see stream_content_loaded_once.)
select
    pipeline,
    source,
    count(*) as loaded_versions
from meta.batches
where status = 'loaded' and stream_id is null
group by pipeline, source
having count(*) > 1
