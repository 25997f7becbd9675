-- Results of the warehouse audit: one row per check per audit run.
create table if not exists meta.check_results (
    flow_run_id varchar,
    checked_at timestamptz not null,
    component varchar not null,
    check_name varchar not null,
    violations bigint not null,
    examples varchar  -- the first violating rows, for whoever investigates
);
