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
-- The bounds are SQL variables, which DuckDB plans as constants: a scan filtered by one skips the row groups whose
-- zonemaps lie outside it, so one new day reads that day's requests and the sessions near it, not every row.
set variable first_refreshed = (select cast(min(day) as timestamp) from refresh_days);

set variable sessions_from = case
    when exists (select 1 from logs.sessions where gap_minutes <> $session_gap_minutes)
        then cast('-infinity' as timestamp)
    else getvariable('first_refreshed') - to_minutes($session_gap_minutes)
end;

-- Visitors are picked by a hash of their client and user agent: a set of numbers is cheap to build and look up where
-- a set of string pairs costs seconds per million requests. Two visitors sharing a hash are both recut, which gives
-- the same sessions again; everything that cuts sessions goes by the client and user agent themselves.
create or replace temporary table affected_visitors as
select distinct hash(client, user_agent) as visitor_hash
from logs.requests
where
    day >= cast(getvariable('first_refreshed') as date)
    and day in (select day from refresh_days)
union
select distinct hash(client, user_agent) as visitor_hash
from logs.sessions
where
    -- a session on a refreshed day ends on or after the first one
    end_utc >= getvariable('sessions_from')
    and (
        getvariable('sessions_from') = cast('-infinity' as timestamp)
        or exists (
            select 1
            from refresh_days
            where refresh_days.day between cast(sessions.start_utc as date) and cast(sessions.end_utc as date)
        )
    );

-- The affected visitors' sessions that end after `sessions_from` are deleted and recut; each visitor's requests are
-- recut from the start of the first of them (or from the first refreshed day: a new visitor's requests all lie on
-- refreshed days), the earlier ones belong to sessions that stay.
create or replace temporary table recut_visitors as
select
    client,
    user_agent,
    min(start_utc) as recut_from
from logs.sessions
where
    end_utc >= getvariable('sessions_from')
    and hash(client, user_agent) in (select visitor_hash from affected_visitors)
group by client, user_agent;

set variable requests_from = least(
    getvariable('first_refreshed'),
    (select min(recut_from) from recut_visitors)
);

delete from logs.sessions
where
    end_utc >= getvariable('sessions_from')
    and hash(client, user_agent) in (select visitor_hash from affected_visitors);

-- One bucket of visitors at a time, each about half a million requests ($requests_per_bucket), a sort that fits in
-- the warehouse's default memory limit (384MB): one sort of a million spills to disk and takes twice as long. Each
-- bucket reads the requests since `requests_from` again, so there are at most ten: beyond that the reads cost more
-- than the spilling they save. The count of requests since `requests_from` (an upper bound of those recut) costs
-- one scan of a column.
set variable buckets = (
    select least(10, cast(ceil(count(*) / $requests_per_bucket) as bigint))
    from logs.requests
    where ts_utc >= getvariable('requests_from')
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
    left join recut_visitors
        on requests.client = recut_visitors.client and requests.user_agent = recut_visitors.user_agent
    where
        requests.ts_utc >= getvariable('requests_from')
        and hash(requests.client, requests.user_agent) in (select visitor_hash from affected_visitors)
        and hash(requests.client, requests.user_agent) % $buckets = $bucket
        -- least() skips a null: a visitor with no session to recut has requests on refreshed days only
        and requests.ts_utc >= least(recut_visitors.recut_from, getvariable('first_refreshed'))
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

-- Only the days whose sessions changed: every deleted or new session starts after `requests_from`.
delete from logs.sessions_daily
where day >= cast(getvariable('requests_from') as date);

insert into logs.sessions_daily by name
with sessions as (
    select
        client,
        user_agent,
        start_utc,
        end_utc,
        bounced,
        pages
    from logs.sessions
    where start_utc >= cast(cast(getvariable('requests_from') as date) as timestamp)
),

final as (
    select
        cast(start_utc as date) as day,
        count(*) as sessions,
        count(distinct (client, user_agent)) as visitors,
        avg(epoch(end_utc) - epoch(start_utc)) as avg_duration_s,
        avg(case when bounced then 1.0 else 0.0 end) as bounce_rate,
        avg(pages) as pages_per_session
    from sessions
    group by cast(start_utc as date)
)

select * from final;

drop table affected_visitors;
drop table recut_visitors;
drop table refresh_days;
reset variable first_refreshed;
reset variable sessions_from;
reset variable requests_from;
reset variable buckets;
