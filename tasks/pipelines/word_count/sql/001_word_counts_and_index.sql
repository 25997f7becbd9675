create schema if not exists wordcount;

-- The inverted index, written per document: a document's rows replace every earlier row of its source file.
create table if not exists wordcount.postings (
    word varchar not null,
    source varchar not null,
    count bigint not null,
    batch_id varchar not null
);

-- One row per document loaded: what its map read and emitted.
create table if not exists wordcount.documents (
    source varchar not null,
    batch_id varchar not null,
    lines bigint not null,
    words bigint not null,
    bytes bigint not null
);

-- One row per distinct word of the whole corpus: merged, run by run, from the reducers' output.
create table if not exists wordcount.word_counts (
    word varchar not null,
    count bigint not null
);

-- One row per distinct word: the number of documents it occurs in.
create table if not exists wordcount.doc_freq (
    word varchar not null,
    documents bigint not null
);

-- One row per run that loaded something: its MapReduce settings and Hadoop-style counters.
create table if not exists wordcount.runs (
    flow_run_id varchar,
    loaded_at timestamptz not null,
    combiner boolean not null,
    documents bigint not null,
    splits bigint not null,
    partitions bigint not null,
    records_read bigint not null,
    bytes_read bigint not null,
    map_output_records bigint not null,
    combine_input_records bigint not null,
    combine_output_records bigint not null,
    spilled_records bigint not null,
    spilled_bytes bigint not null,
    reduce_input_records bigint not null,
    reduce_input_groups bigint not null,
    word_counts_output_records bigint not null,
    postings_output_records bigint not null
);
