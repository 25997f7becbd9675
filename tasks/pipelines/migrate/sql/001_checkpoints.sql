-- Migration from operational databases (flows/migrate.py): where each table's copy stands, so that a killed run
-- resumes after the last batch it committed instead of starting over.
create schema if not exists migrate;

create table if not exists migrate.checkpoints (
    source varchar not null,  -- the ledger's source: masked URL + '#' + source table; never a password
    target_table varchar not null,  -- schema.table in the warehouse
    copy_table varchar not null,  -- where the copy grows until it is verified and swapped in as target_table
    key_columns varchar[] not null,
    plan json not null,  -- each column's source and DuckDB type: a copy resumes only under the same plan
    plan_version varchar not null,
    last_key json,  -- the last key copied, its values tagged by type; null: nothing copied yet
    rows_copied bigint not null,
    rows_rejected bigint not null,
    status varchar not null,  -- copying | done | failed
    started_at timestamptz not null,  -- when this copy started from the beginning
    last_batch_at timestamptz not null,
    flow_run_id varchar
);

-- Rejects of copies still in progress; moved to meta.rejects, with the table's ledger batch, once it is verified.
create table if not exists migrate.pending_rejects (
    source varchar not null,
    target_table varchar not null,
    line_number bigint not null,  -- the row's place in key order, from 1
    raw varchar not null,
    reason varchar not null
);
