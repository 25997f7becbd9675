-- Requests, bytes and 4xx / 5xx answers per bucket of the period ($unit: an hour for a daily report, else a day),
-- from logs.hourly; every bucket of the period is listed, with zeros where no request was logged.
with buckets as (
    select unnest(range(cast($first_day as timestamp), cast($next_day as timestamp), $step)) as bucket
),

hourly as (
    select
        hour,
        requests,
        bytes,
        status_4xx,
        status_5xx
    from logs.hourly
    where hour >= cast($first_day as timestamp)
        and hour < cast($next_day as timestamp)
),

per_bucket as (
    select
        cast(date_trunc($unit, hour) as timestamp) as bucket,
        sum(requests) as requests,
        sum(bytes) as bytes,
        sum(status_4xx) as status_4xx,
        sum(status_5xx) as status_5xx
    from hourly
    group by all
),

final as (
    select
        buckets.bucket,
        cast(coalesce(per_bucket.requests, 0) as bigint) as requests,
        cast(coalesce(per_bucket.bytes, 0) as bigint) as bytes,
        cast(coalesce(per_bucket.status_4xx, 0) as bigint) as status_4xx,
        cast(coalesce(per_bucket.status_5xx, 0) as bigint) as status_5xx
    from buckets
    left join per_bucket on buckets.bucket = per_bucket.bucket
)

select * from final
order by bucket
