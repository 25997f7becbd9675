-- Independent reference for the access-log marts, written from the specification only
-- (Combined Log Format rules, derived columns, logs.hourly / logs.daily / logs.top_paths).
--
-- Used by tests/support/independent_access_logs.py (compute_expected) and by bench/access_logs.py as the
-- "plain hand-written DuckDB SQL" baseline.
--
-- Placeholders filled in by Python before running:
--   {files}   a relation (path VARCHAR, name VARCHAR): every input file, full path and file name
--   {source}  a relation (path VARCHAR, line VARCHAR): one row per line of every input file, lines split on
--             "\n" only; an empty line is '' or NULL, a line that is not valid UTF-8 is NULL.
-- Statements are separated by "-- @statement <name>" markers; the setup statements fill two temp tables and
-- the four named queries return the result frames.

-- @statement setup_files
CREATE OR REPLACE TEMP TABLE ref_files AS
SELECT path, name FROM {files};

-- @statement setup_lines
CREATE OR REPLACE TEMP TABLE ref_lines AS
WITH src AS (
    SELECT path, coalesce(line, '') AS line, line IS NULL AS not_text
    FROM {source}
),
matched AS (
    -- The whole line, anchored at both ends. Single spaces between fields; [0-9] is ASCII only.
    -- Referer and user agent: between double quotes, any character but '"' and '\', or '\' + any character.
    SELECT
        path,
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
    CASE WHEN ok THEN nbytes END AS nbytes
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
