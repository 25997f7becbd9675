-- The requests and rejects of each loaded range of a log stream are its lines, each once: line numbers
-- first_line .. first_line + rows_in - 1, none missing, none twice.
with ranges as (
    select
        batch_id,
        source,
        first_line,
        rows_in
    from meta.batches
    where pipeline = 'access_logs' and status = 'loaded' and stream_id is not null
),

lines as (
    select
        batch_id,
        line_number
    from logs.requests
    union all
    select
        batch_id,
        line_number
    from meta.rejects
    where pipeline = 'access_logs'
),

counted as (
    select
        batch_id,
        count(*) as lines,
        count(distinct line_number) as distinct_lines,
        min(line_number) as first_seen,
        max(line_number) as last_seen
    from lines
    group by batch_id
),

final as (
    select
        ranges.batch_id,
        ranges.source,
        ranges.first_line,
        ranges.rows_in,
        coalesce(counted.lines, 0) as lines,
        counted.first_seen,
        counted.last_seen
    from ranges
    left join counted on ranges.batch_id = counted.batch_id
    where
        coalesce(counted.lines, 0) <> ranges.rows_in
        or coalesce(counted.distinct_lines, 0) <> ranges.rows_in
        or (ranges.rows_in > 0 and (counted.first_seen <> ranges.first_line or counted.last_seen <> ranges.first_line + ranges.rows_in - 1))
)

select * from final
