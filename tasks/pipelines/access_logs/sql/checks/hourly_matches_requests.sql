-- logs.hourly agrees with logs.requests on every hour, except hours of days waiting for their mart refresh.
with pending as (
    select partition_day as day
    from meta.dirty_partitions
    where pipeline = 'access_logs'
),

expected as (
    select
        hour,
        count(*) as requests,
        sum(bytes) as bytes,
        count(*) filter (where status between 400 and 499) as status_4xx,
        count(*) filter (where status between 500 and 599) as status_5xx
    from logs.requests
    group by hour
),

final as (
    select
        coalesce(expected.hour, hourly.hour) as hour,
        expected.requests as expected_requests,
        hourly.requests as mart_requests,
        expected.bytes as expected_bytes,
        hourly.bytes as mart_bytes,
        expected.status_4xx as expected_4xx,
        hourly.status_4xx as mart_4xx,
        expected.status_5xx as expected_5xx,
        hourly.status_5xx as mart_5xx
    from expected
    full outer join logs.hourly as hourly on expected.hour = hourly.hour
)

select * from final
where
    cast(final.hour as date) not in (select day from pending)
    and (
        expected_requests is distinct from mart_requests
        or expected_bytes is distinct from mart_bytes
        or expected_4xx is distinct from mart_4xx
        or expected_5xx is distinct from mart_5xx
    )
