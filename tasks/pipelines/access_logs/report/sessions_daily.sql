-- Each day of the period with sessions starting on it, from logs.sessions_daily.
with sessions_daily as (
    select
        day,
        sessions,
        visitors,
        avg_duration_s,
        bounce_rate,
        pages_per_session
    from logs.sessions_daily
    where day >= $first_day
        and day < $next_day
)

select * from sessions_daily
order by day
