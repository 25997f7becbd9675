-- wordcount.doc_freq holds, for each word, the number of documents of the inverted index it occurs in.
with expected as (
    select
        word,
        count(distinct source) as documents
    from wordcount.postings
    group by word
),

final as (
    select
        coalesce(expected.word, doc_freq.word) as word,
        expected.documents as expected_documents,
        doc_freq.documents as table_documents
    from expected
    full outer join wordcount.doc_freq as doc_freq on expected.word = doc_freq.word
)

select * from final
where expected_documents is distinct from table_documents
