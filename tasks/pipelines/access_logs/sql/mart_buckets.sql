-- How many buckets of visitors the sessions are cut in: about half a million requests each, a sort that fits in
-- the warehouse's default memory limit (384MB). One sort over everything spills to disk and takes twice as long
-- on a million visitors; eight that fit take half the time, and the time stays linear in the input.
select ceil(count(*) / 500000) as buckets
from logs.requests
where day in (
    select partition_day
    from meta.dirty_partitions
    where pipeline = 'access_logs'
);
