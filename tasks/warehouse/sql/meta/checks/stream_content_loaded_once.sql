-- No content of a log stream is loaded twice: two loaded ranges of a stream that begin at the same point (the same
-- content before them) hold different content only where discovery saw the first and planned the second beside it
-- (a fork, listed in `alongside`); anything else means the same lines were loaded twice.
with ranges as (
    select
        batch_id,
        stream_id,
        start_offset,
        start_hash,
        source,
        coalesce(alongside, []) as alongside
    from meta.batches
    where status = 'loaded' and stream_id is not null
),

final as (
    select
        earlier.stream_id,
        earlier.start_offset,
        earlier.batch_id as one_batch,
        later.batch_id as other_batch,
        earlier.source as one_source,
        later.source as other_source
    from ranges as earlier
    inner join ranges as later
        on
            earlier.stream_id = later.stream_id
            and earlier.start_hash = later.start_hash
            and earlier.batch_id < later.batch_id
    where
        not list_contains(earlier.alongside, later.batch_id)
        and not list_contains(later.alongside, earlier.batch_id)
)

select * from final
