-- logs.daily agrees with logs.requests on every day, except days waiting for their mart refresh.
with pending as (
    select partition_day as day
    from meta.dirty_partitions
    where pipeline = 'access_logs'
),

expected as (
    select
        day,
        count(*) as requests,
        count(distinct client) as distinct_clients
    from logs.requests
    group by day
),

final as (
    select
        coalesce(expected.day, daily.day) as day,
        expected.requests as expected_requests,
        daily.requests as mart_requests,
        expected.distinct_clients as expected_clients,
        daily.distinct_clients as mart_clients
    from expected
    full outer join logs.daily as daily on expected.day = daily.day
)

select * from final
where
    final.day not in (select day from pending)
    and (
        expected_requests is distinct from mart_requests
        or expected_clients is distinct from mart_clients
    )
