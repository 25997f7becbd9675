-- Rebuild the logs marts for the days listed in meta.dirty_partitions, then clear the list.
create or replace temporary table refresh_days as
select distinct partition_day as day
from meta.dirty_partitions
where pipeline = 'access_logs';

delete from logs.hourly where cast(hour as date) in (select day from refresh_days);
delete from logs.daily where day in (select day from refresh_days);
delete from logs.top_paths where day in (select day from refresh_days);

insert into logs.hourly by name
with requests as (
    select
        hour,
        bytes,
        status
    from logs.requests
    where day in (select day from refresh_days)
),

final as (
    select
        hour,
        count(*) as requests,
        sum(bytes) as bytes,
        count(*) filter (where status between 400 and 499) as status_4xx,
        count(*) filter (where status between 500 and 599) as status_5xx
    from requests
    group by hour
)

select * from final;

insert into logs.daily by name
with requests as (
    select
        day,
        client
    from logs.requests
    where day in (select day from refresh_days)
),

final as (
    select
        day,
        count(*) as requests,
        count(distinct client) as distinct_clients
    from requests
    group by day
)

select * from final;

insert into logs.top_paths by name
with requests as (
    select
        day,
        path
    from logs.requests
    where day in (select day from refresh_days)
),

path_counts as (
    select
        day,
        path,
        count(*) as requests
    from requests
    group by day, path
),

final as (
    select
        day,
        cast(row_number() over (partition by day order by requests desc, path asc) as integer) as rank,
        path,
        requests
    from path_counts
    qualify rank <= 10
)

select * from final;

delete from meta.dirty_partitions where pipeline = 'access_logs';
drop table refresh_days;
