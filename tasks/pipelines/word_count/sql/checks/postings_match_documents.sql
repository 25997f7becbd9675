-- Each document's postings add up to the words its map emitted, and every posting belongs to a document.
with indexed as (
    select
        source,
        batch_id,
        sum(count) as words
    from wordcount.postings
    group by source, batch_id
),

final as (
    select
        coalesce(documents.source, indexed.source) as source,
        documents.words as document_words,
        indexed.words as indexed_words
    from wordcount.documents as documents
    full outer join indexed on documents.batch_id = indexed.batch_id
)

select * from final
where coalesce(document_words, 0) <> coalesce(indexed_words, 0) or document_words is null
