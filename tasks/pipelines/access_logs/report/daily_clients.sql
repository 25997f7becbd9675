-- Requests and distinct clients of each day of the period that has requests, from logs.daily. Distinct clients do
-- not add up across days, so the report shows them per day only.
with daily as (
    select
        day,
        requests,
        distinct_clients
    from logs.daily
    where day >= $first_day
        and day < $next_day
)

select * from daily
order by day
