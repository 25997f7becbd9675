-- Independent reference for the access-log marts, written from the specification only
-- (Combined Log Format rules, derived columns, logs.hourly / logs.daily / logs.top_paths).
--
-- Used by tests/support/independent_access_logs.py (compute_expected) and by bench/access_logs.py as the
-- "plain hand-written DuckDB SQL" baseline.
--
-- Placeholders filled in by Python before running:
--   {files}   a relation (path VARCHAR, name VARCHAR): every input file, full path and file name
--   {files}   also has stream_id VARCHAR: the first 32 hex digits of the SHA-256 of the file's first line
--   {source}  a relation (path VARCHAR, line VARCHAR, line_number BIGINT): one row per line of every input file,
--             lines split on "\n" only; an empty line is '' or NULL, a line that is not valid UTF-8 is NULL;
--             line_number grows with the line's position in its file.
--   {session_gap_minutes}  the longest pause inside one session
-- Statements are separated by "-- @statement <name>" markers; the setup statements fill two temp tables and
-- the four named queries return the result frames.

-- @statement setup_files
CREATE OR REPLACE TEMP TABLE ref_files AS
SELECT path, name, stream_id FROM {files};

-- @statement setup_lines
CREATE OR REPLACE TEMP TABLE ref_lines AS
WITH src AS (
    SELECT path, line_number, coalesce(line, '') AS line, line IS NULL AS not_text
    FROM {source}
),
matched AS (
    -- The whole line, anchored at both ends. Single spaces between fields; [0-9] is ASCII only.
    -- Referer and user agent: between double quotes, any character but '"' and '\', or '\' + any character.
    SELECT
        path,
        line_number,
        not_text,
        regexp_extract(
            line,
            '^([^ ]+) ([^ ]+) ([^ ]+) '
            || '\[([0-9]{2})/(Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)/([0-9]{4})'
            || ':([0-9]{2}):([0-9]{2}):([0-9]{2}) ([+-])([0-9]{2})([0-9]{2})\] '
            || '"([A-Z]+) ([^ "]+) (HTTP/[0-9]\.[0-9])" '
            || '([0-9]{3}) ([0-9]+|-) '
            || '"((?:[^"\\]|\\.)*)" "((?:[^"\\]|\\.)*)"$',
            ['client', 'ident', 'usr', 'dd', 'mon', 'yyyy', 'hh', 'mi', 'ss', 'sign', 'oh', 'om',
             'method', 'target', 'protocol', 'status', 'nbytes', 'referer', 'user_agent']
        ) AS g
    FROM src
),
numbers AS (
    SELECT
        path,
        line_number,
        g,
        NOT not_text AND g.client <> '' AS shape_ok,
        try_cast(g.dd AS INTEGER) AS d,
        list_position(['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'],
                      g.mon) AS mo,
        try_cast(g.yyyy AS INTEGER) AS y,
        try_cast(g.hh AS INTEGER) AS hh,
        try_cast(g.mi AS INTEGER) AS mi,
        try_cast(g.ss AS INTEGER) AS ss,
        try_cast(g.oh AS INTEGER) AS oh,
        try_cast(g.om AS INTEGER) AS om,
        try_cast(g.status AS INTEGER) AS status,
        CASE WHEN g.nbytes = '-' THEN 0 ELSE try_cast(g.nbytes AS BIGINT) END AS nbytes
    FROM matched
),
checked AS (
    SELECT
        *,
        shape_ok
        AND y BETWEEN 1900 AND 2199
        AND d BETWEEN 1 AND (
            CASE
                WHEN mo = 2 THEN
                    CASE WHEN (y % 4 = 0 AND y % 100 <> 0) OR y % 400 = 0 THEN 29 ELSE 28 END
                WHEN mo IN (4, 6, 9, 11) THEN 30
                ELSE 31
            END)
        AND hh BETWEEN 0 AND 23
        AND mi BETWEEN 0 AND 59
        AND ss BETWEEN 0 AND 59
        AND oh BETWEEN 0 AND 14
        AND om BETWEEN 0 AND 59
        AND status BETWEEN 100 AND 599
        AND nbytes IS NOT NULL  -- digits that do not fit a BIGINT
        AS ok
    FROM numbers
)
SELECT
    path,
    line_number,
    ok,
    CASE WHEN ok THEN
        -- local wall-clock time minus the offset: "+0200" means UTC is two hours earlier
        make_timestamp(y, mo, d, hh, mi, ss)
        - (CASE WHEN g.sign = '-' THEN -1 ELSE 1 END * (oh * 60 + om)) * INTERVAL 1 MINUTE
    END AS ts_utc,
    CASE WHEN ok THEN g.client END AS client,
    CASE WHEN ok THEN
        CASE WHEN strpos(g.target, '?') > 0 THEN left(g.target, strpos(g.target, '?') - 1) ELSE g.target END
    END AS path_part,
    CASE WHEN ok THEN status END AS status,
    CASE WHEN ok THEN nbytes END AS nbytes,
    CASE WHEN ok THEN g.method END AS method,
    CASE WHEN ok THEN g.user_agent END AS user_agent
FROM checked;

-- @statement per_file
SELECT
    f.name AS file,
    count(l.path) AS lines,
    count(*) FILTER (WHERE l.ok) AS well_formed,
    count(*) FILTER (WHERE NOT l.ok) AS rejected
FROM ref_files AS f
LEFT JOIN ref_lines AS l ON l.path = f.path
GROUP BY f.name
ORDER BY f.name;

-- @statement hourly
SELECT
    date_trunc('hour', ts_utc) AS hour,
    count(*) AS requests,
    sum(nbytes)::BIGINT AS bytes,
    count(*) FILTER (WHERE status BETWEEN 400 AND 499) AS status_4xx,
    count(*) FILTER (WHERE status BETWEEN 500 AND 599) AS status_5xx
FROM ref_lines
WHERE ok
GROUP BY 1
ORDER BY 1;

-- @statement daily
SELECT
    ts_utc::DATE AS day,
    count(*) AS requests,
    count(DISTINCT client) AS distinct_clients
FROM ref_lines
WHERE ok
GROUP BY 1
ORDER BY 1;

-- @statement top_paths
WITH per_path AS (
    SELECT ts_utc::DATE AS day, path_part AS path, count(*) AS requests
    FROM ref_lines
    WHERE ok
    GROUP BY 1, 2
),
ranked AS (
    SELECT
        day,
        CAST(row_number() OVER (PARTITION BY day ORDER BY requests DESC, path ASC) AS INTEGER) AS rank,
        path,
        requests
    FROM per_path
)
SELECT day, rank, path, requests
FROM ranked
WHERE rank <= 10
ORDER BY day, rank;

-- @statement setup_sessions
-- A visitor is a client with a user agent. Their requests in time order (ties: stream id, then line) form one
-- session while no pause between two of them is longer than the gap. A page is a GET answered 200-399 whose path
-- does not end in an asset extension; a session with at most one page bounced.
CREATE OR REPLACE TEMP TABLE ref_sessions AS
WITH requests AS (
    SELECT
        l.client,
        l.user_agent,
        l.ts_utc,
        f.stream_id,
        l.line_number,
        l.path_part AS path,
        l.method = 'GET' AND l.status BETWEEN 200 AND 399
        AND NOT regexp_matches(lower(l.path_part),
                               '\.(css|js|mjs|map|png|jpg|jpeg|gif|svg|ico|webp|avif|woff|woff2|ttf|otf|eot)$')
            AS is_page
    FROM ref_lines AS l
    JOIN ref_files AS f ON f.path = l.path
    WHERE l.ok
),
marked AS (
    SELECT
        *,
        CASE WHEN ts_utc - lag(ts_utc) OVER visit <= {session_gap_minutes} * INTERVAL 1 MINUTE THEN 0 ELSE 1 END
            AS starts_session
    FROM requests
    WINDOW visit AS (PARTITION BY client, user_agent ORDER BY ts_utc, stream_id, line_number)
),
numbered AS (
    SELECT
        *,
        sum(starts_session) OVER (
            PARTITION BY client, user_agent ORDER BY ts_utc, stream_id, line_number ROWS UNBOUNDED PRECEDING
        ) AS session_number
    FROM marked
)
SELECT
    md5(client || chr(10) || user_agent || chr(10) || strftime(min(ts_utc), '%Y-%m-%dT%H:%M:%S.%f')) AS session_id,
    client,
    user_agent,
    min(ts_utc) AS start_utc,
    max(ts_utc) AS end_utc,
    count(*) AS requests,
    count(*) FILTER (WHERE is_page) AS pages,
    count(*) FILTER (WHERE is_page) <= 1 AS bounced,
    arg_min(path, (ts_utc, stream_id, line_number)) AS entry_path,
    arg_max(path, (ts_utc, stream_id, line_number)) AS exit_path
FROM numbered
GROUP BY client, user_agent, session_number;

-- @statement sessions
SELECT * FROM ref_sessions ORDER BY client, user_agent, start_utc;

-- @statement sessions_daily
SELECT
    start_utc::DATE AS day,
    count(*) AS sessions,
    count(DISTINCT (client, user_agent)) AS visitors,
    avg(epoch(end_utc) - epoch(start_utc)) AS avg_duration_s,
    avg(CASE WHEN bounced THEN 1.0 ELSE 0.0 END) AS bounce_rate,
    avg(pages) AS pages_per_session
FROM ref_sessions
GROUP BY 1
ORDER BY 1;
