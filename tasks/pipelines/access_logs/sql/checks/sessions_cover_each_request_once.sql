-- Each visitor's (client + user agent) sessions hold exactly their requests: as many in total, none outside a
-- session, sessions apart by more than the gap they were cut with. Visitors with requests on days waiting for their
-- mart refresh are left out.
with pending_visitors as (
    select distinct
        client,
        user_agent
    from logs.requests
    where day in (select partition_day from meta.dirty_partitions where pipeline = 'access_logs')
),

requests_per_visitor as (
    select
        client,
        user_agent,
        count(*) as requests
    from logs.requests
    group by client, user_agent
),

requests_inside as (
    select
        sessions.session_id,
        count(*) as requests
    from logs.sessions as sessions
    inner join logs.requests as requests
        on
            requests.client = sessions.client
            and requests.user_agent = sessions.user_agent
            and requests.ts_utc between sessions.start_utc and sessions.end_utc
    group by sessions.session_id
),

in_sessions as (
    select
        sessions.client,
        sessions.user_agent,
        sum(sessions.requests) as session_requests,
        sum(coalesce(requests_inside.requests, 0)) as requests_inside
    from logs.sessions as sessions
    left join requests_inside on sessions.session_id = requests_inside.session_id
    group by sessions.client, sessions.user_agent
),

too_close as (
    select
        client,
        user_agent,
        count(*) as sessions_within_the_gap
    from (
        select
            client,
            user_agent,
            start_utc - lag(end_utc) over (partition by client, user_agent order by start_utc) as gap,
            gap_minutes
        from logs.sessions
    )
    where gap <= to_minutes(gap_minutes)
    group by client, user_agent
),

final as (
    select
        coalesce(requests_per_visitor.client, in_sessions.client) as client,
        coalesce(requests_per_visitor.user_agent, in_sessions.user_agent) as user_agent,
        coalesce(requests_per_visitor.requests, 0) as requests,
        coalesce(in_sessions.session_requests, 0) as session_requests,
        coalesce(in_sessions.requests_inside, 0) as requests_inside,
        coalesce(too_close.sessions_within_the_gap, 0) as sessions_within_the_gap
    from requests_per_visitor
    full outer join in_sessions
        on requests_per_visitor.client = in_sessions.client
        and requests_per_visitor.user_agent = in_sessions.user_agent
    left join too_close
        on too_close.client = coalesce(requests_per_visitor.client, in_sessions.client)
        and too_close.user_agent = coalesce(requests_per_visitor.user_agent, in_sessions.user_agent)
)

select * from final
where
    (client, user_agent) not in (select (client, user_agent) from pending_visitors)
    and (requests <> session_requests or requests <> requests_inside or sessions_within_the_gap > 0)
