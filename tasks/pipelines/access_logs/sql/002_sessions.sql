-- User behaviour: a session is one client's (address + user agent) requests with no gap longer than the session
-- gap (30 minutes unless the run says otherwise) between two consecutive ones, however the requests were split
-- into files or days.
create table if not exists logs.sessions (
    session_id varchar not null,  -- md5 of client, user agent and start: the same requests give the same id
    client varchar not null,
    user_agent varchar not null,
    start_utc timestamp not null,
    end_utc timestamp not null,
    requests bigint not null,
    pages bigint not null,  -- successful GETs of documents, not of assets (.css, .js, images, fonts, ...)
    bounced boolean not null,  -- at most one page
    entry_path varchar not null,
    exit_path varchar not null,
    gap_minutes integer not null
);

create table if not exists logs.sessions_daily (
    day date not null,  -- the UTC day the sessions started
    sessions bigint not null,
    visitors bigint not null,  -- distinct client + user agent
    avg_duration_s double not null,
    bounce_rate double not null,
    pages_per_session double not null
);
