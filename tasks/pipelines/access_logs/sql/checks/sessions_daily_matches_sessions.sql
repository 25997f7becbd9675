-- logs.sessions_daily agrees with logs.sessions on every day, once no day waits for its mart refresh.
with expected as (
    select
        cast(start_utc as date) as day,
        count(*) as sessions,
        count(distinct (client, user_agent)) as visitors,
        avg(epoch(end_utc) - epoch(start_utc)) as avg_duration_s,
        avg(case when bounced then 1.0 else 0.0 end) as bounce_rate,
        avg(pages) as pages_per_session
    from logs.sessions
    group by cast(start_utc as date)
),

final as (
    select
        coalesce(expected.day, daily.day) as day,
        expected.sessions as expected_sessions,
        daily.sessions as mart_sessions,
        expected.visitors as expected_visitors,
        daily.visitors as mart_visitors,
        expected.avg_duration_s as expected_avg_duration_s,
        daily.avg_duration_s as mart_avg_duration_s,
        expected.bounce_rate as expected_bounce_rate,
        daily.bounce_rate as mart_bounce_rate,
        expected.pages_per_session as expected_pages_per_session,
        daily.pages_per_session as mart_pages_per_session
    from expected
    full outer join logs.sessions_daily as daily on expected.day = daily.day
)

select * from final
where
    not exists (select 1 from meta.dirty_partitions where pipeline = 'access_logs')
    and (
        expected_sessions is distinct from mart_sessions
        or expected_visitors is distinct from mart_visitors
        or abs(expected_avg_duration_s - mart_avg_duration_s) > 1e-6
        or abs(expected_bounce_rate - mart_bounce_rate) > 1e-9
        or abs(expected_pages_per_session - mart_pages_per_session) > 1e-9
        or expected_avg_duration_s is null <> (mart_avg_duration_s is null)
    )
