-- Every loaded range of a log stream accounts for its bytes and lines: it read exactly its bytes, and it begins at
-- the stream's start (line 1) or where another loaded range of the stream ends (same offset, same content before
-- it), on the line after that range's last.
with ranges as (
    select
        batch_id,
        stream_id,
        source,
        start_offset,
        end_offset,
        start_hash,
        end_hash,
        first_line,
        rows_in,
        bytes_read
    from meta.batches
    where status = 'loaded' and stream_id is not null
),

predecessors as (
    select
        ranges.batch_id,
        count(previous.batch_id) as ends_here,
        count(previous.batch_id) filter (
            where previous.first_line + previous.rows_in = ranges.first_line
        ) as lines_follow_on
    from ranges
    left join ranges as previous
        on
            previous.stream_id = ranges.stream_id
            and previous.end_hash = ranges.start_hash
            and previous.end_offset = ranges.start_offset
    group by ranges.batch_id
),

final as (
    select
        ranges.batch_id,
        ranges.source,
        ranges.start_offset,
        ranges.end_offset,
        ranges.bytes_read,
        ranges.first_line,
        predecessors.ends_here
    from ranges
    inner join predecessors on ranges.batch_id = predecessors.batch_id
    where
        ranges.bytes_read <> ranges.end_offset - ranges.start_offset
        or (ranges.start_offset = 0 and ranges.first_line <> 1)
        or (ranges.start_offset > 0 and predecessors.lines_follow_on = 0)
)

select * from final
