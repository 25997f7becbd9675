create schema if not exists logs;

-- Written per batch: a batch replaces every earlier row of its source file.
create table if not exists logs.requests (
    batch_id varchar not null,
    source varchar not null,
    line_number bigint not null,
    client varchar not null,
    ident varchar not null,
    "user" varchar not null,
    ts_utc timestamp not null,
    utc_offset_minutes integer not null,
    hour timestamp not null,
    day date not null,
    method varchar not null,
    path varchar not null,
    query varchar,
    protocol varchar not null,
    status integer not null,
    bytes bigint not null,
    referer varchar not null,
    user_agent varchar not null
);

-- Marts: rebuilt per day for the days whose requests changed.
create table if not exists logs.hourly (
    hour timestamp not null,
    requests bigint not null,
    bytes bigint not null,
    status_4xx bigint not null,
    status_5xx bigint not null
);

create table if not exists logs.daily (
    day date not null,
    requests bigint not null,
    distinct_clients bigint not null
);

create table if not exists logs.top_paths (
    day date not null,
    rank integer not null,
    path varchar not null,
    requests bigint not null
);
