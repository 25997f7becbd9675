-- The period's sessions from the daily mart, weighted by each day's sessions (never an average of daily rates), and
-- its distinct visitors (client + user agent) from logs.sessions, since visitors do not add up across days.
with sessions_daily as (
    select
        sessions,
        avg_duration_s,
        bounce_rate,
        pages_per_session
    from logs.sessions_daily
    where day >= $first_day
        and day < $next_day
),

visitors as (
    select count(distinct (client, user_agent)) as visitors
    from logs.sessions
    where start_utc >= cast($first_day as timestamp)
        and start_utc < cast($next_day as timestamp)
),

totals as (
    select
        cast(coalesce(sum(sessions), 0) as bigint) as sessions,
        sum(bounce_rate * sessions) / sum(sessions) as bounce_rate,
        sum(pages_per_session * sessions) / sum(sessions) as pages_per_session,
        sum(avg_duration_s * sessions) / sum(sessions) as avg_duration_s
    from sessions_daily
),

final as (
    select
        totals.sessions,
        visitors.visitors,
        totals.bounce_rate,
        totals.pages_per_session,
        totals.avg_duration_s
    from totals
    cross join visitors
)

select * from final
