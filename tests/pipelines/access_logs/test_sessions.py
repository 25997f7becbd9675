"""Sessionization, on hand-built request sequences: the gap at exactly the threshold, midnight, requests of one
session spread over files in any order, a replaced file, and the daily mart, each computed by hand; then on
generated logs against an independent computation (tests/support/independent_sessions.py), however the files are loaded."""

import random
from datetime import date, datetime, timedelta
from pathlib import Path

import pytest
from flow_process import generate_logs
from independent_sessions import read_requests
from log_files import log_line, write_log
from warehouse_snapshot import assert_sessions_match_independent_computation, query

from tasks.core.batches import make_batch
from tasks.core.staging import stage_batch
from tasks.pipelines.access_logs.source import ACCESS_LOG_FORMAT
from tasks.warehouse.connection import open_warehouse
from tasks.warehouse.loads import FactTable, load_staged_batch, refresh_marts

REQUESTS = FactTable(pipeline="access_logs", table="logs.requests", partition_day="day")
ALICE = {"client": "198.51.100.7", "user_agent": "Firefox"}
BOB = {"client": "198.51.100.7", "user_agent": "Curl"}  # same address, another agent: another visitor


def at(day: int, time: str, path: str = "/", **who) -> str:
    """A request on `day` October 2026 at `time` (UTC)."""
    return log_line(timestamp=f"{day:02d}/Oct/2026:{time} +0000", request=f"GET {path} HTTP/1.1", **(who or ALICE))


def load(files: list[Path], warehouse: Path, **settings) -> None:
    for path in files:
        staged = stage_batch(make_batch("access_logs", path), ACCESS_LOG_FORMAT, warehouse.parent / "staging", 1 << 20)
        with open_warehouse(warehouse) as connection:
            load_staged_batch(connection, staged, REQUESTS, None)
    with open_warehouse(warehouse) as connection:
        refresh_marts(connection, "access_logs", settings)


def sessions(warehouse: Path) -> list[tuple]:
    return query(
        warehouse,
        "select user_agent, start_utc, end_utc, requests, pages, bounced, entry_path, exit_path "
        "from logs.sessions order by user_agent, start_utc",
    )


def test_a_gap_of_exactly_the_threshold_continues_the_session_and_a_longer_one_ends_it(tmp_path):
    warehouse = tmp_path / "warehouse.duckdb"
    lines = [
        at(10, "10:00:00", "/"),
        at(10, "10:30:00", "/a"),  # exactly 30 minutes later: same session
        at(10, "11:00:01", "/b"),  # 30 minutes and 1 second: a new one
        at(10, "11:00:02", "/style.css"),  # an asset is a request, not a page
    ]

    load([write_log(tmp_path / "logs" / "a.log", lines)], warehouse)

    assert sessions(warehouse) == [
        ("Firefox", datetime(2026, 10, 10, 10), datetime(2026, 10, 10, 10, 30), 2, 2, False, "/", "/a"),
        ("Firefox", datetime(2026, 10, 10, 11, 0, 1), datetime(2026, 10, 10, 11, 0, 2), 2, 1, True, "/b", "/style.css"),
    ]


def test_a_session_crosses_midnight_and_files_in_any_order_and_the_gap_is_a_setting(tmp_path):
    late = write_log(tmp_path / "logs" / "10.log", [at(10, "23:50:00", "/evening"), at(10, "23:59:59", "/late", **BOB)])
    early = write_log(tmp_path / "logs" / "11.log", [at(11, "00:10:00", "/morning"), at(11, "00:45:00", "/again")])
    expected = [
        ("Curl", datetime(2026, 10, 10, 23, 59, 59), datetime(2026, 10, 10, 23, 59, 59), 1, 1, True, "/late", "/late"),
        ("Firefox", datetime(2026, 10, 10, 23, 50), datetime(2026, 10, 11, 0, 10), 2, 2, False, "/evening", "/morning"),
        ("Firefox", datetime(2026, 10, 11, 0, 45), datetime(2026, 10, 11, 0, 45), 1, 1, True, "/again", "/again"),
    ]

    for order in ([late, early], [early, late]):
        warehouse = tmp_path / f"{order[0].stem}-first.duckdb"
        for path in order:  # one load, and one refresh, per file
            load([path], warehouse)
        assert sessions(warehouse) == expected, [path.name for path in order]

    wider = tmp_path / "wider.duckdb"
    load([late, early], wider, session_gap_minutes=60)
    assert [row[3] for row in sessions(wider)] == [1, 3]  # Curl alone; Alice's three requests are one session


def test_a_replaced_file_rebuilds_the_sessions_it_touched(tmp_path):
    warehouse = tmp_path / "warehouse.duckdb"
    first = write_log(tmp_path / "logs" / "a.log", [at(12, "09:00:00", "/"), at(12, "09:40:00", "/x")])
    second = write_log(tmp_path / "logs" / "b.log", [at(12, "09:20:00", "/bridge")])
    load([first, second], warehouse)
    assert [row[3] for row in sessions(warehouse)] == [3]  # /bridge joins the two

    write_log(second, [at(12, "12:00:00", "/noon")])  # b.log corrected: the bridge was never there
    load([second], warehouse)

    assert [(row[3], row[6]) for row in sessions(warehouse)] == [(1, "/"), (1, "/x"), (1, "/noon")]


def test_the_daily_mart_counts_sessions_by_their_start_day(tmp_path):
    warehouse = tmp_path / "warehouse.duckdb"
    lines = [
        at(13, "08:00:00", "/"),
        at(13, "08:10:00", "/a"),
        at(13, "08:20:00", "/b"),  # 20 minutes, 3 pages
        at(13, "09:00:00", "/", **BOB),  # 0 s, 1 page, bounced
        at(13, "23:50:00", "/"),
        at(14, "00:15:00", "/next-day"),  # started on the 13th: 25 minutes, 2 pages
    ]
    random.Random(1).shuffle(lines)  # the order of lines in a file does not matter either

    load([write_log(tmp_path / "logs" / "a.log", lines)], warehouse)

    assert query(warehouse, "select * from logs.sessions_daily") == [
        (date(2026, 10, 13), 3, 2, (1200 + 0 + 1500) / 3, pytest.approx(1 / 3), (3 + 1 + 2) / 3)
    ]


def test_a_new_gap_recuts_every_session_even_when_no_request_arrived(tmp_path):
    warehouse = tmp_path / "warehouse.duckdb"
    lines = [at(15, "10:00:00", "/"), at(15, "10:45:00", "/a"), at(15, "12:00:00", "/b")]
    load([write_log(tmp_path / "logs" / "a.log", lines)], warehouse)
    assert [row[3] for row in sessions(warehouse)] == [1, 1, 1]

    load([], warehouse, session_gap_minutes=60)  # nothing new to load: only the setting changed

    assert [row[3] for row in sessions(warehouse)] == [2, 1]
    assert query(warehouse, "select distinct gap_minutes from logs.sessions") == [(60,)]


def test_generated_logs_give_the_independent_computation_s_sessions_however_their_files_are_loaded(tmp_path):
    source = generate_logs(tmp_path / "logs", 3, 11, "--days", "4")
    files = sorted(source.iterdir())
    requests = read_requests(source)

    for name, loads in {
        "all at once": [files],
        "one at a time, newest first": [[path] for path in reversed(files)],
        "one at a time, shuffled": [[path] for path in random.Random(3).sample(files, len(files))],
    }.items():
        warehouse = tmp_path / f"{name}.duckdb"
        for batch in loads:
            load(batch, warehouse)
        assert query(warehouse, "select count(*) from logs.requests") == [(len(requests),)], name
        assert_sessions_match_independent_computation(source, warehouse)

    wider = tmp_path / "wider.duckdb"
    load(files, wider, session_gap_minutes=90)
    assert_sessions_match_independent_computation(source, wider, gap_minutes=90)

    # the case the incremental rebuild exists for: sessions whose requests came in more than one file
    spanning_files = query(
        warehouse,
        "select count(*) from logs.sessions "
        "where (select count(distinct source) from logs.requests "
        "       where requests.client = sessions.client and requests.user_agent = sessions.user_agent "
        "       and requests.ts_utc between sessions.start_utc and sessions.end_utc) > 1",
    )
    assert spanning_files[0][0] > 0
    multi_request = query(warehouse, "select count(*) filter (where requests > 1), count(*) from logs.sessions")
    assert multi_request == [(1_401, 2_570)]  # not only one-request sessions; the generator is deterministic


def test_sessions_cut_in_buckets_of_visitors_are_the_sessions_cut_at_once(tmp_path):
    source = generate_logs(tmp_path / "logs", 2, 13, "--days", "3", "--mix", "bot-heavy")
    files = sorted(source.iterdir())

    at_once, in_buckets = tmp_path / "at-once.duckdb", tmp_path / "in-buckets.duckdb"
    load(files, at_once, requests_per_bucket=10_000_000)
    for path in files:  # one file at a time, so that later buckets recut visitors an earlier refresh cut
        load([path], in_buckets, requests_per_bucket=1_000)

    assert_sessions_match_independent_computation(source, in_buckets)
    everything = "select * from logs.sessions order by session_id"
    assert query(in_buckets, everything) == query(at_once, everything)
    assert query(in_buckets, "select * from logs.sessions_daily order by day") == query(
        at_once, "select * from logs.sessions_daily order by day"
    )


def test_a_later_file_joins_a_session_that_ended_exactly_the_gap_before_its_first_day(tmp_path):
    warehouse = tmp_path / "warehouse.duckdb"
    load([write_log(tmp_path / "logs" / "10.log", [at(10, "23:00:00", "/"), at(10, "23:30:00", "/a")])], warehouse)
    load([write_log(tmp_path / "logs" / "11.log", [at(11, "00:00:00", "/b"), at(11, "00:30:01", "/c")])], warehouse)

    assert [(row[3], row[6], row[7]) for row in sessions(warehouse)] == [(3, "/", "/b"), (1, "/c", "/c")]


def test_a_new_day_recuts_a_session_that_began_long_before_it_and_keeps_the_ones_that_ended_before(tmp_path):
    # Alice browses every 20 minutes from the 9th at 22:00 to the 10th at 23:40, so her session began more than a day
    # before the 11th; her request on the 11th at 00:05 joins it. Bob's session on the 10th ended hours before the
    # cut-off and stays as it is; so does Dave's early on the 10th, though he comes back on the 11th, after the start of
    # Alice's session; Carol arrives on the 11th only.
    carol = {"client": "203.0.113.9", "user_agent": "Safari"}
    dave = {"client": "203.0.113.10", "user_agent": "Edge"}
    start = datetime(2026, 10, 9, 22)
    times = [start + timedelta(minutes=minutes) for minutes in range(0, 25 * 60 + 41, 20)]
    browsing = [at(time.day, time.strftime("%H:%M:%S"), f"/p{number}") for number, time in enumerate(times)]
    logs, warehouse = tmp_path / "logs", tmp_path / "warehouse.duckdb"
    load([write_log(logs / "09.log", browsing[:6])], warehouse)
    load(
        [write_log(logs / "10.log", [*browsing[6:], at(10, "08:00:00", "/", **BOB), at(10, "05:00:00", **dave)])],
        warehouse,
    )
    before = query(warehouse, "select session_id from logs.sessions where user_agent = 'Curl'")

    load(
        [
            write_log(
                logs / "11.log", [at(11, "00:05:00", "/late"), at(11, "09:00:00", **carol), at(11, "10:00:00", **dave)]
            )
        ],
        warehouse,
    )

    assert_sessions_match_independent_computation(logs, warehouse)
    alice = query(warehouse, "select start_utc, requests from logs.sessions where user_agent = 'Firefox'")
    assert alice == [(datetime(2026, 10, 9, 22), len(browsing) + 1)]
    assert query(warehouse, "select session_id from logs.sessions where user_agent = 'Curl'") == before


def test_generated_days_arriving_one_at_a_time_in_order_give_the_independent_computation_s_sessions(tmp_path):
    generated = generate_logs(tmp_path / "generated", 2, 17, "--days", "5", "--gzip-share", "0")
    logs = tmp_path / "logs"
    logs.mkdir()
    warehouse = tmp_path / "warehouse.duckdb"
    for path in sorted(generated.iterdir()):  # the common case: each run brings the next day
        (logs / path.name).write_bytes(path.read_bytes())
        load([logs / path.name], warehouse, requests_per_bucket=2_000)
        assert_sessions_match_independent_computation(logs, warehouse)


def test_a_past_day_delivered_again_changed_recuts_the_sessions_it_touched(tmp_path):
    generated = generate_logs(tmp_path / "generated", 2, 19, "--days", "4", "--gzip-share", "0")
    logs = tmp_path / "logs"
    logs.mkdir()
    warehouse = tmp_path / "warehouse.duckdb"
    files = sorted(generated.iterdir())
    for path in files:
        (logs / path.name).write_bytes(path.read_bytes())
        load([logs / path.name], warehouse)
    # the second day again, with a third of its lines gone and the rest in another order (later days stay loaded)
    second = logs / files[1].name
    lines = second.read_text().splitlines()
    kept = [line for number, line in enumerate(lines) if number % 3]
    write_log(second, random.Random(5).sample(kept, len(kept)))

    load([second], warehouse, requests_per_bucket=2_000)

    assert_sessions_match_independent_computation(logs, warehouse)


def test_a_new_gap_with_a_new_day_recuts_every_session_with_the_new_gap(tmp_path):
    generated = generate_logs(tmp_path / "generated", 2, 23, "--days", "3", "--gzip-share", "0")
    logs = tmp_path / "logs"
    logs.mkdir()
    warehouse = tmp_path / "warehouse.duckdb"
    files = sorted(generated.iterdir())
    for path in files[:-1]:
        (logs / path.name).write_bytes(path.read_bytes())
    load(sorted(logs.iterdir()), warehouse)
    (logs / files[-1].name).write_bytes(files[-1].read_bytes())

    load([logs / files[-1].name], warehouse, session_gap_minutes=7)

    assert_sessions_match_independent_computation(logs, warehouse, gap_minutes=7)
    assert query(warehouse, "select distinct gap_minutes from logs.sessions") == [(7,)]
