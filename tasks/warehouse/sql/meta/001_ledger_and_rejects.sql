-- The batch ledger and the rejects, shared by every pipeline.
create table if not exists meta.batches (
    batch_id varchar not null,
    pipeline varchar not null,
    source varchar not null,
    fingerprint varchar not null,
    size_bytes bigint not null,
    status varchar not null,  -- loaded | failed | replaced (a newer version of the source was loaded)
    rows_in bigint not null,
    rows_loaded bigint not null,
    rows_rejected bigint not null,
    bytes_read bigint not null,
    error varchar,
    parser_version varchar,
    started_at timestamptz not null,
    finished_at timestamptz not null,
    flow_run_id varchar
);

create table if not exists meta.rejects (
    pipeline varchar not null,
    batch_id varchar not null,
    source varchar not null,
    line_number bigint not null,
    raw varchar not null,
    reason varchar not null
);

-- Partitions whose facts changed since their marts were last rebuilt; written in the load transaction, so a
-- crash between a load and its mart refresh is caught up by the next refresh.
create table if not exists meta.dirty_partitions (
    pipeline varchar not null,
    partition_day date not null
);
