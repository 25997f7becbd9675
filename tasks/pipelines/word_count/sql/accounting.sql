-- Inside the load transaction, after the merge: every word the maps emitted for a document is in its postings,
-- and the corpus totals agree with the index. Returns the rows that break this (none when it holds).
with indexed as (
    select
        source,
        sum(count) as words
    from wordcount.postings
    where source in (select source from run_documents)
    group by source
),

documents as (
    select
        run_documents.source,
        run_documents.map_output_records as mapped_words,
        coalesce(indexed.words, 0) as indexed_words
    from run_documents
    left join indexed on run_documents.source = indexed.source
),

totals as (
    select
        'corpus' as source,
        (select coalesce(sum(count), 0) from wordcount.word_counts) as mapped_words,
        (select coalesce(sum(count), 0) from wordcount.postings) as indexed_words
)

select * from documents where mapped_words <> indexed_words
union all
select * from totals where mapped_words <> indexed_words
