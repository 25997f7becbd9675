-- Merge one run's reduce output into the corpus. Reads the temporary tables run_documents (source, batch_id and
-- the map's records_read, bytes_read, map_output_records), run_word_counts (word, count), run_postings (word,
-- source, count) and run_counters: the documents loaded in this run (new files, or new versions of loaded ones),
-- what the reducers computed from them, and the run's counters.

-- What the earlier versions of this run's documents contributed, taken out of the totals below.
create temp table replaced_postings as
select
    postings.word,
    postings.source,
    postings.count
from wordcount.postings as postings
where postings.source in (select source from run_documents);

delete from wordcount.postings where source in (select source from run_documents);
delete from wordcount.documents where source in (select source from run_documents);

insert into wordcount.postings by name
select
    run_postings.word,
    run_postings.source,
    run_postings.count,
    run_documents.batch_id
from run_postings
inner join run_documents on run_postings.source = run_documents.source;

insert into wordcount.documents by name
select
    source,
    batch_id,
    records_read as lines,
    map_output_records as words,
    bytes_read as bytes
from run_documents;

create temp table word_changes as
with changes as (
    select word, -count as count, -1 as documents from replaced_postings
    union all
    select word, count, 0 as documents from run_word_counts
    union all
    select word, 0 as count, 1 as documents from run_postings
),

final as (
    select
        word,
        sum(count) as count,
        sum(documents) as documents
    from changes
    group by word
)

select * from final;

create temp table merged_words as
select
    word_changes.word,
    coalesce(word_counts.count, 0) + word_changes.count as count,
    coalesce(doc_freq.documents, 0) + word_changes.documents as documents
from word_changes
left join wordcount.word_counts as word_counts on word_changes.word = word_counts.word
left join wordcount.doc_freq as doc_freq on word_changes.word = doc_freq.word;

delete from wordcount.word_counts where word in (select word from word_changes);
delete from wordcount.doc_freq where word in (select word from word_changes);

insert into wordcount.word_counts by name
select word, count from merged_words where count > 0;

insert into wordcount.doc_freq by name
select word, documents from merged_words where documents > 0;

drop table replaced_postings;
drop table word_changes;
drop table merged_words;

-- A retried merge (its first attempt committed, then the task failed) replaces its run's row.
delete from wordcount.runs where flow_run_id in (select flow_run_id from run_counters);

insert into wordcount.runs by name
select * from run_counters;
