-- The ten paths with the most requests over the whole period, ties by path (the rule of logs.top_paths), counted
-- from logs.requests: logs.top_paths keeps each day's top ten only, and summing those would miss a path that is
-- eleventh every day.
with requests as (
    select path
    from logs.requests
    where day >= $first_day
        and day < $next_day
),

path_counts as (
    select
        path,
        count(*) as requests
    from requests
    group by path
),

final as (
    select
        cast(row_number() over (order by requests desc, path asc) as integer) as rank,
        path,
        requests
    from path_counts
    qualify rank <= 10
)

select * from final
order by rank
