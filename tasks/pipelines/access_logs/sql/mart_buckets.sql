-- How many buckets of visitors the sessions are cut in: about half a million requests each, a sort that fits in
-- the warehouse's default memory limit (384MB). One sort of a million visitors' requests spills to disk and takes
-- twice as long as ten that fit. Each bucket reads every request to recut once more, so there are at most ten:
-- beyond that the reads cost more than the spilling they save.
select least(10, ceil(count(*) / 500000)) as buckets
from logs.requests
where day in (
    select partition_day
    from meta.dirty_partitions
    where pipeline = 'access_logs'
);
