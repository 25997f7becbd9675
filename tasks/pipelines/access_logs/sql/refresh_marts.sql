-- Rebuild the logs marts for the days listed in meta.dirty_partitions (the machinery then clears the list).
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

-- Sessions of the visitors (client + user agent) with requests on a refreshed day, before or after the load, are
-- recut from their requests, so that a session crossing a file or a day boundary comes out whole. A visitor's
-- sessions that ended more than the gap before the first refreshed day stay: no change can reach them. With another
-- gap than the sessions were cut with, every session is recut.
-- Visitors are picked by a hash of their client and user agent: a set of numbers is cheap to build and look up where
-- a set of string pairs costs seconds per million requests. Two visitors sharing a hash are both recut, which gives
-- the same sessions again; everything that cuts sessions goes by the client and user agent themselves.
create or replace temporary table affected_visitors as
select distinct hash(client, user_agent) as visitor_hash
from logs.requests
where day in (select day from refresh_days)
union
select distinct hash(client, user_agent) as visitor_hash
from logs.sessions
where
    gap_minutes <> $session_gap_minutes
    or exists (
        select 1
        from refresh_days
        where refresh_days.day between cast(sessions.start_utc as date) and cast(sessions.end_utc as date)
    );

create or replace temporary table kept_sessions as
select
    client,
    user_agent,
    max(end_utc) as kept_until
from logs.sessions
where
    gap_minutes = $session_gap_minutes
    and end_utc < (select cast(min(day) as timestamp) from refresh_days) - to_minutes($session_gap_minutes)
    and hash(client, user_agent) in (select visitor_hash from affected_visitors)
group by client, user_agent;

delete from logs.sessions
where
    hash(client, user_agent) in (select visitor_hash from affected_visitors)
    and not exists (
        select 1
        from kept_sessions
        where
            kept_sessions.client = sessions.client
            and kept_sessions.user_agent = sessions.user_agent
            and sessions.start_utc <= kept_sessions.kept_until
    );

-- one bucket of visitors at a time (mart_buckets.sql)
insert into logs.sessions by name
with streams as (
    -- equal timestamps are ordered by stream, then line: the order they were written in, however they were loaded
    select
        batch_id,
        dense_rank() over (order by coalesce(stream_id, source)) as stream_rank
    from meta.batches
    where pipeline = 'access_logs' and status = 'loaded'
),

requests as (
    select
        requests.client,
        requests.user_agent,
        requests.ts_utc,
        streams.stream_rank,
        requests.line_number,
        requests.path,
        requests.method = 'GET'
        and requests.status between 200 and 399
        and not regexp_matches(
            lower(requests.path), '\.(css|js|mjs|map|png|jpe?g|gif|svg|ico|webp|avif|woff2?|ttf|otf|eot)$'
        ) as is_page
    from logs.requests as requests
    inner join streams on requests.batch_id = streams.batch_id
    left join kept_sessions
        on requests.client = kept_sessions.client and requests.user_agent = kept_sessions.user_agent
    where
        hash(requests.client, requests.user_agent) in (select visitor_hash from affected_visitors)
        and hash(requests.client, requests.user_agent) % $buckets = $bucket
        and (kept_sessions.kept_until is null or requests.ts_utc > kept_sessions.kept_until)
),

gaps as (
    select
        *,
        -- the first request, or one more than the gap after the one before
        case when ts_utc - lag(ts_utc) over visit_order <= to_minutes($session_gap_minutes) then 0 else 1 end
            as starts_a_session,
        -- the entry and exit pages are picked by this number: a struct of time, stream and line costs a third more
        row_number() over visit_order as visit_position
    from requests
    window visit_order as (partition by client, user_agent order by ts_utc, stream_rank, line_number)
),

numbered as (
    select
        *,
        sum(starts_a_session) over (
            partition by client, user_agent order by visit_position rows unbounded preceding
        ) as session_number
    from gaps
),

visits as (
    select
        client,
        user_agent,
        min(ts_utc) as start_utc,
        max(ts_utc) as end_utc,
        count(*) as requests,
        count(*) filter (where is_page) as pages,
        arg_min(path, visit_position) as entry_path,
        arg_max(path, visit_position) as exit_path
    from numbered
    group by client, user_agent, session_number
),

final as (
    select
        md5(client || chr(10) || user_agent || chr(10) || strftime(start_utc, '%Y-%m-%dT%H:%M:%S.%f')) as session_id,
        client,
        user_agent,
        start_utc,
        end_utc,
        requests,
        pages,
        pages <= 1 as bounced,
        entry_path,
        exit_path,
        $session_gap_minutes as gap_minutes
    from visits
)

select * from final;

delete from logs.sessions_daily;
insert into logs.sessions_daily by name
select
    cast(start_utc as date) as day,
    count(*) as sessions,
    count(distinct (client, user_agent)) as visitors,
    avg(epoch(end_utc) - epoch(start_utc)) as avg_duration_s,
    avg(case when bounced then 1.0 else 0.0 end) as bounce_rate,
    avg(pages) as pages_per_session
from logs.sessions
group by cast(start_utc as date);

drop table affected_visitors;
drop table kept_sessions;
drop table refresh_days;
