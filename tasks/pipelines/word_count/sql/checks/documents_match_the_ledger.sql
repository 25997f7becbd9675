-- Every loaded word-count batch has its document row, and every document row is a loaded batch whose lines are
-- the ledger's rows loaded.
with loaded as (
    select
        batch_id,
        source,
        rows_loaded
    from meta.batches
    where pipeline = 'word_count' and status = 'loaded'
),

final as (
    select
        coalesce(loaded.source, documents.source) as source,
        loaded.batch_id as ledger_batch_id,
        documents.batch_id as document_batch_id,
        loaded.rows_loaded as ledger_lines,
        documents.lines as document_lines
    from loaded
    full outer join wordcount.documents as documents on loaded.batch_id = documents.batch_id
)

select * from final
where
    ledger_batch_id is null
    or document_batch_id is null
    or ledger_lines is distinct from document_lines
