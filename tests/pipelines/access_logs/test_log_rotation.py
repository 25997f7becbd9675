"""Exactly once on real log folders: a server writes access.log while logrotate renames, copies, truncates,
compresses and deletes its files (tests/support/logrotate.py), and the folder is loaded at random moments, some while a line
is half written, some while gzip has written a rotated file's compressed copy but not yet removed the plain one. In the
end the warehouse must hold every line that the folder held at a load, once (a file deleted before any load saw its
last lines takes them with it): the requests and rejects as the simulator wrote them, a ledger whose ranges tile each
stream, and the marts and sessions that the independent computations give over one file per stream.

Then the cases one at a time: copies under other names and in other folders, a gzip copy, a grown file, a
copytruncate, a deleted rotated file, the landing walk-through of docs/operations.md, and a file rewritten with other content.
"""

import gzip
import random
import shutil
from collections import Counter
from pathlib import Path

import pytest
from independent_access_logs import compute_expected
from log_files import log_line, write_log
from logrotate import LIVE, REQUEST_COLUMNS, Line, LogRotate, Rotation, Stream
from polars.testing import assert_frame_equal
from warehouse_snapshot import (
    assert_matches_independent_computation,
    assert_sessions_match_independent_computation,
    marts,
    query,
    snapshot,
)

from flows.access_logs import REQUESTS
from tasks.core.settings import staging_root_for
from tasks.core.staging import stage_batch
from tasks.kit.discovery import Discovery, discover
from tasks.pipelines.access_logs import SAMPLE as SAMPLE_ACCESS_LOGS
from tasks.pipelines.access_logs.source import ACCESS_LOG_FILES, ACCESS_LOG_FORMAT
from tasks.warehouse.connection import open_warehouse
from tasks.warehouse.loads import load_staged_batch, refresh_marts


def load_folder(source: Path, warehouse: Path) -> Discovery:
    """One run of the access-log pipeline over `source`, without Prefect: discover, stage, load, refresh."""
    discovery = discover(source, ACCESS_LOG_FILES, "access_logs", warehouse, append_only=True)
    staged = [
        stage_batch(batch, ACCESS_LOG_FORMAT, staging_root_for(warehouse), 1 << 20) for batch in discovery.to_load
    ]
    with open_warehouse(warehouse) as connection:
        for batch in staged:
            assert batch.error is None, batch.error
            outcome = load_staged_batch(connection, batch, REQUESTS, None)
            assert outcome.status == "loaded", outcome
        refresh_marts(connection, "access_logs")
    return discovery


ROTATIONS = [
    Rotation(rotate=3),
    Rotation(compress=True, rotate=3),
    Rotation(compress=True, delaycompress=True, rotate=2),
    Rotation(copytruncate=True, rotate=4),
    Rotation(copytruncate=True, compress=True, delaycompress=True, rotate=3),
    Rotation(dateext=True, rotate=3),
    Rotation(dateext=True, compress=True, rotate=2),
    Rotation(dateext=True, compress=True, delaycompress=True, rotate=3),
    Rotation(copytruncate=True, dateext=True, compress=True, rotate=2),
]
SEEDS = (1, 2, 3)
ROUNDS = 5


@pytest.mark.parametrize(
    "rotation, seed",
    [(rotation, seed) for rotation in ROTATIONS for seed in SEEDS],
    ids=[f"{rotation}-seed{seed}" for rotation in ROTATIONS for seed in SEEDS],
)
def test_every_line_a_rotated_folder_held_is_loaded_once(tmp_path, rotation, seed):
    rng = random.Random(f"{rotation}-{seed}")
    logs = LogRotate(tmp_path / "logs", rotation, rng)
    warehouse = tmp_path / "warehouse.duckdb"
    held_at_a_load: dict[int, int] = {}  # stream -> the most of its lines the folder held when a run began
    loads_with_a_half_line = 0

    def load() -> None:
        nonlocal loads_with_a_half_line
        for stream, lines in logs.lines_held().items():
            held_at_a_load[stream] = max(held_at_a_load.get(stream, 0), lines)
        discovery = load_folder(logs.folder, warehouse)
        assert discovery.half_written == ((LIVE,) if logs.pending else ())
        loads_with_a_half_line += logs.pending is not None

    for round_number in range(ROUNDS):
        logs.write(rng.randint(5, 60))
        if round_number == 0 or rng.random() < 0.4:
            logs.write_half_line()
        if round_number == 0 or rng.random() < 0.5:
            load()
        if rng.random() < 0.4:
            logs.write(rng.randint(0, 10))  # finishing the half line first
        if rng.random() < 0.7:
            logs.rotate(while_compressing=load if rng.random() < 0.3 else None)
    logs.finish_line()
    load()

    streams = logs.write_streams(tmp_path / "streams", held_at_a_load)
    assert loads_with_a_half_line and logs.rotations and len(streams) > 1  # the scenario is not a trivial one
    assert_requests_and_rejects_are_the_lines_written(warehouse, streams)
    assert_ledger_tiles_every_stream(warehouse, streams)
    assert_marts_match_independent_computation(tmp_path / "streams", warehouse, streams)
    assert_sessions_match_independent_computation(tmp_path / "streams", warehouse)


def assert_requests_and_rejects_are_the_lines_written(warehouse: Path, streams: dict[str, Stream]) -> None:
    """logs.requests holds each well-formed line once, at its stream and line number, with the fields it was written
    with; meta.rejects each other line once, with its text."""
    expected_rows = Counter()
    expected_rejects = Counter()
    for stream in streams.values():
        for number, line in enumerate(stream.lines, start=1):
            if line.request is None:
                expected_rejects[(stream.id, number, line.text)] += 1
            else:
                expected_rows[line.request.row(stream.id, number)] += 1
    columns = ", ".join(f'requests."{column}"' for column in REQUEST_COLUMNS)
    rows = Counter(
        query(
            warehouse,
            f"select batches.stream_id, {columns} from logs.requests as requests "
            "join meta.batches as batches using (batch_id)",
        )
    )
    rejects = Counter(
        query(
            warehouse,
            "select batches.stream_id, rejects.line_number, rejects.raw from meta.rejects as rejects "
            "join meta.batches as batches using (batch_id)",
        )
    )
    assert query(warehouse, "select count(*) from logs.requests") == [(rows.total(),)]  # every row has its batch
    assert query(warehouse, "select count(*) from meta.rejects") == [(rejects.total(),)]
    assert (rows - expected_rows, expected_rows - rows) == (Counter(), Counter()), "(loaded, not as written; missing)"
    assert (rejects - expected_rejects, expected_rejects - rejects) == (Counter(), Counter())


def assert_ledger_tiles_every_stream(warehouse: Path, streams: dict[str, Stream]) -> None:
    """Every ledger row is loaded with rows in = loaded + rejected, and each stream's ranges follow one another
    from its start to its end, line numbers too."""
    ledger = query(
        warehouse,
        "select stream_id, start_offset, end_offset, first_line, rows_in, rows_loaded, rows_rejected, status "
        "from meta.batches order by stream_id, start_offset",
    )
    assert all(status == "loaded" and rows_in == loaded + rejected for *_, rows_in, loaded, rejected, status in ledger)
    next_range: dict[str, tuple[int, int]] = {}  # stream -> the offset and line number its next range starts at
    for stream_id, start, end, first_line, rows_in, *_ in ledger:
        assert (start, first_line) == next_range.get(stream_id, (0, 1)), (stream_id, start, first_line)
        next_range[stream_id] = (end, first_line + rows_in)
    assert next_range == {stream.id: (len(stream.content()), len(stream.lines) + 1) for stream in streams.values()}


def assert_marts_match_independent_computation(source: Path, warehouse: Path, streams: dict[str, Stream]) -> None:
    """The hourly, daily and top-paths marts, and each stream's lines, well-formed and rejected, in the ledger equal
    the independent computation over one file per stream."""
    expected = compute_expected(source)
    actual = marts(warehouse)
    for mart in ("hourly", "daily", "top_paths"):
        assert_frame_equal(actual[mart], expected[mart], check_dtypes=False, check_column_order=False)
    per_stream = dict(
        query(
            warehouse,
            "select stream_id, [sum(rows_in), sum(rows_loaded), sum(rows_rejected)] from meta.batches group by 1",
        )
    )
    per_file = expected["per_file"].select("file", "lines", "well_formed", "rejected")
    assert per_stream == {
        streams[file].id: [lines, well_formed, rejected] for file, lines, well_formed, rejected in per_file.iter_rows()
    }


def numbered_lines(first: int, count: int, **fields) -> list[str]:
    """`count` well-formed lines asking for /page/<n>, n counting from `first`."""
    return [log_line(request=f"GET /page/{number} HTTP/1.1", **fields) for number in range(first, first + count)]


def content(lines: list[str]) -> bytes:
    return "".join(line + "\n" for line in lines).encode()


def rows(warehouse: Path) -> list[tuple]:
    """(batch, stream, line number, path) of every request, sorted."""
    return query(
        warehouse,
        "select batch_id, batches.stream_id, requests.line_number, requests.path from logs.requests as requests "
        "join meta.batches as batches using (batch_id) order by all",
    )


def test_copies_of_loaded_content_under_other_names_and_in_other_folders_load_nothing(tmp_path):
    warehouse = tmp_path / "warehouse.duckdb"
    log = write_log(tmp_path / "logs" / LIVE, numbered_lines(1, 20))
    load_folder(log.parent, warehouse)
    loaded = snapshot(warehouse)
    shutil.copy(log, log.with_name("access.log.1"))
    shutil.copy(log, log.with_name("copy-of-access.log"))
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    shutil.copy(log, elsewhere / LIVE)
    shutil.copy(log, elsewhere / "backup-20261101.log")

    same_folder = load_folder(log.parent, warehouse)
    other_folder = load_folder(elsewhere, warehouse)

    assert (same_folder.to_load, same_folder.already_loaded) == ([], 3)
    assert (other_folder.to_load, other_folder.already_loaded) == ([], 2)
    assert query(warehouse, "select count(*) from logs.requests") == [(20,)]
    assert snapshot(warehouse) == loaded


def test_a_gzip_copy_of_loaded_content_loads_nothing_nor_does_one_of_an_older_state(tmp_path):
    warehouse = tmp_path / "warehouse.duckdb"
    lines = numbered_lines(1, 12)
    log = write_log(tmp_path / "logs" / LIVE, lines)
    load_folder(log.parent, warehouse)
    loaded = snapshot(warehouse)
    (log.parent / "access.log.1.gz").write_bytes(gzip.compress(content(lines)))
    (log.parent / "access.log-20261101.gz").write_bytes(gzip.compress(content(lines[:5])))
    write_log(tmp_path / "archive" / "old-access.log.gz", lines)

    same_folder = load_folder(log.parent, warehouse)
    archive = load_folder(tmp_path / "archive", warehouse)

    assert (same_folder.to_load, same_folder.already_loaded) == ([], 3)
    assert (archive.to_load, archive.already_loaded) == ([], 1)
    assert snapshot(warehouse) == loaded


def test_a_file_that_grew_loads_only_its_new_lines_and_keeps_the_earlier_rows(tmp_path):
    warehouse = tmp_path / "warehouse.duckdb"
    lines = numbered_lines(1, 15)
    log = write_log(tmp_path / "logs" / LIVE, lines[:10])
    load_folder(log.parent, warehouse)
    before = rows(warehouse)
    with log.open("a") as appending:
        appending.write("".join(line + "\n" for line in lines[10:]) + lines[0][:30])  # and half a line

    discovery = load_folder(log.parent, warehouse)

    (batch,) = discovery.to_load
    assert (batch.range.start, batch.range.end, batch.range.first_line) == (
        len(content(lines[:10])),
        len(content(lines)),
        11,
    )
    assert discovery.half_written == (LIVE,)
    after = rows(warehouse)
    assert set(before) <= set(after)  # the earlier rows stay, from the batch that loaded them
    stream_id = before[0][1]
    assert sorted(set(after) - set(before)) == [
        (batch.batch_id, stream_id, number, f"/page/{number}") for number in range(11, 16)
    ]


def test_copytruncate_starts_a_new_stream_and_leaves_the_old_one_s_rows_alone(tmp_path):
    warehouse = tmp_path / "warehouse.duckdb"
    lines = numbered_lines(1, 14)
    log = write_log(tmp_path / "logs" / LIVE, lines[:10])
    load_folder(log.parent, warehouse)
    before = rows(warehouse)
    shutil.copy(log, log.with_name("access.log.1"))
    with log.open("r+b") as truncating:
        truncating.truncate(0)
    with log.open("ab") as appending:
        appending.write(content(lines[10:]))

    discovery = load_folder(log.parent, warehouse)

    assert (len(discovery.to_load), discovery.already_loaded) == (1, 1)  # access.log.1 holds what was loaded
    new_stream = Stream([Line(text, None) for text in lines[10:]]).id
    after = rows(warehouse)
    assert set(before) <= set(after)
    assert sorted((stream, number, path) for _, stream, number, path in set(after) - set(before)) == [
        (new_stream, number - 10, f"/page/{number}") for number in range(11, 15)
    ]


def test_a_deleted_rotated_file_keeps_its_rows_and_the_marts_stay(tmp_path):
    warehouse = tmp_path / "warehouse.duckdb"
    rotated = write_log(tmp_path / "logs" / "access.log.1", numbered_lines(1, 10))
    write_log(tmp_path / "logs" / LIVE, numbered_lines(11, 5))
    load_folder(rotated.parent, warehouse)
    loaded = snapshot(warehouse)

    rotated.unlink()
    discovery = load_folder(rotated.parent, warehouse)

    assert (discovery.to_load, discovery.already_loaded) == ([], 1)
    assert query(warehouse, "select count(*) from logs.requests") == [(15,)]
    assert snapshot(warehouse) == loaded


def test_the_readme_landing_walk_through_loads_nothing_new_from_a_copy_of_a_loaded_sample_file(tmp_path):
    warehouse = tmp_path / "warehouse.duckdb"
    load_folder(SAMPLE_ACCESS_LOGS, warehouse)
    assert_matches_independent_computation(SAMPLE_ACCESS_LOGS, warehouse)
    loaded = snapshot(warehouse)
    landing = tmp_path / "landing"
    landing.mkdir()
    # docs/access-logs.md: the same content copied under another name or folder loads nothing
    shutil.copy(SAMPLE_ACCESS_LOGS / "access-2026-10-01.log", landing)

    discovery = load_folder(landing, warehouse)

    assert (discovery.to_load, discovery.already_loaded) == ([], 1)
    assert snapshot(warehouse) == loaded


@pytest.mark.parametrize(
    "kept",
    [0, 6],
    ids=["other content from its first line", "other content after a loaded point"],
)
def test_a_file_rewritten_with_other_content_loads_it_and_keeps_the_old_rows(tmp_path, kept):
    """Neither an append nor a copy: the file continues from the last loaded point its content shares (its start if
    none), and the rows of what it replaced stay (tasks/core/streams.py)."""
    warehouse = tmp_path / "warehouse.duckdb"
    lines = numbered_lines(1, 10)
    log = write_log(tmp_path / "logs" / LIVE, lines[:6])
    load_folder(log.parent, warehouse)
    write_log(log, lines)  # loaded in two ranges: lines 1-6, then 7-10
    load_folder(log.parent, warehouse)
    before = rows(warehouse)
    rewritten = lines[:kept] + numbered_lines(101, 5, client="203.0.113.99")
    write_log(log, rewritten)

    discovery = load_folder(log.parent, warehouse)

    assert len(discovery.to_load) == 1
    rewritten_stream = Stream([Line(text, None) for text in rewritten]).id  # the old one's when it kept line 1
    after = rows(warehouse)
    assert set(before) <= set(after)
    assert sorted((stream, number, path) for _, stream, number, path in set(after) - set(before)) == [
        (rewritten_stream, kept + number, f"/page/{100 + number}") for number in range(1, 6)
    ]
    assert query(warehouse, "select count(*) from logs.requests") == [(10 + 5,)]
