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
create or replace temporary table affected_clients as
with visitors as (
    select distinct
        client,
        user_agent
    from logs.requests
    where day in (select day from refresh_days)
    union
    select distinct
        client,
        user_agent
    from logs.sessions
    where
        gap_minutes <> $session_gap_minutes
        or exists (
            select 1
            from refresh_days
            where refresh_days.day between cast(sessions.start_utc as date) and cast(sessions.end_utc as date)
        )
),

unreachable as (
    select
        sessions.client,
        sessions.user_agent,
        max(sessions.end_utc) as kept_until
    from logs.sessions as sessions
    where
        sessions.gap_minutes = $session_gap_minutes
        and sessions.end_utc
        < (select cast(min(day) as timestamp) from refresh_days) - to_minutes($session_gap_minutes)
    group by sessions.client, sessions.user_agent
)

select
    visitors.client,
    visitors.user_agent,
    unreachable.kept_until,
    -- sessions are cut per visitor_id: sorting by a number instead of two long strings makes it three times faster
    row_number() over () as visitor_id
from visitors
left join unreachable on visitors.client = unreachable.client and visitors.user_agent = unreachable.user_agent;

delete from logs.sessions
where exists (
    select 1
    from affected_clients
    where
        affected_clients.client = sessions.client
        and affected_clients.user_agent = sessions.user_agent
        and (affected_clients.kept_until is null or sessions.start_utc > affected_clients.kept_until)
);

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
        affected_clients.visitor_id,
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
    inner join affected_clients
        on requests.client = affected_clients.client and requests.user_agent = affected_clients.user_agent
    inner join streams on requests.batch_id = streams.batch_id
    where affected_clients.kept_until is null or requests.ts_utc > affected_clients.kept_until
),

gaps as (
    select
        *,
        -- the first request, or one more than the gap after the one before
        case when ts_utc - lag(ts_utc) over visit_order <= to_minutes($session_gap_minutes) then 0 else 1 end
            as starts_a_session
    from requests
    window visit_order as (partition by visitor_id order by ts_utc, stream_rank, line_number)
),

numbered as (
    select
        *,
        sum(starts_a_session) over (
            partition by visitor_id order by ts_utc, stream_rank, line_number rows unbounded preceding
        ) as session_number
    from gaps
),

visits as (
    select
        visitor_id,
        min(ts_utc) as start_utc,
        max(ts_utc) as end_utc,
        count(*) as requests,
        count(*) filter (where is_page) as pages,
        arg_min(path, (ts_utc, stream_rank, line_number)) as entry_path,
        arg_max(path, (ts_utc, stream_rank, line_number)) as exit_path
    from numbered
    group by visitor_id, session_number
),

final as (
    select
        md5(
            affected_clients.client || chr(10) || affected_clients.user_agent || chr(10)
            || strftime(visits.start_utc, '%Y-%m-%dT%H:%M:%S.%f')
        ) as session_id,
        affected_clients.client,
        affected_clients.user_agent,
        visits.start_utc,
        visits.end_utc,
        visits.requests,
        visits.pages,
        visits.pages <= 1 as bounced,
        visits.entry_path,
        visits.exit_path,
        $session_gap_minutes as gap_minutes
    from visits
    inner join affected_clients on visits.visitor_id = affected_clients.visitor_id
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

drop table affected_clients;
drop table refresh_days;
