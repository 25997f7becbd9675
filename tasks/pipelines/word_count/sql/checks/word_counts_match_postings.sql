-- wordcount.word_counts holds each word's occurrences over the whole inverted index, and no other word.
with expected as (
    select
        word,
        sum(count) as count
    from wordcount.postings
    group by word
),

final as (
    select
        coalesce(expected.word, word_counts.word) as word,
        expected.count as expected_count,
        word_counts.count as table_count
    from expected
    full outer join wordcount.word_counts as word_counts on expected.word = word_counts.word
)

select * from final
where expected_count is distinct from table_count
