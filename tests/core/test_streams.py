"""Log streams (tasks/core/streams.py): scanning a file's content and planning the ranges a run loads."""

import gzip
import hashlib
import os
import shutil
import time
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from log_files import log_line, write_log
from warehouse_snapshot import query

import tasks.core.streams
from tasks.core.settings import staging_root_for
from tasks.core.staging import stage_batch
from tasks.core.streams import HEAD_LIMIT, LoadedRange, StreamPlan, is_final, plan_stream_ranges, scan_file, scan_files
from tasks.kit.discovery import discover
from tasks.pipelines.access_logs.source import ACCESS_LOG_FILES, ACCESS_LOG_FORMAT
from tasks.warehouse.connection import open_warehouse
from tasks.warehouse.loads import FactTable, load_staged_batch


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()[:32]


def lines(*paths: str) -> bytes:
    return "".join(log_line(request=f"GET {path} HTTP/1.1") + "\n" for path in paths).encode()


@pytest.mark.parametrize(
    ("name", "final"),
    [
        ("access.log", False),
        ("access-2026-10-01.log", False),
        ("access_log", False),
        ("access.log.1", True),
        ("access.log.12", True),
        ("access.log.2.gz", True),
        ("access.log.gz", True),
        ("access.log-20261201", True),
        ("access.log-20261201.gz", True),
        ("access.log-2026120113", True),
        ("access_log-20261201", True),
        ("access.log-2026-12-01", True),
    ],
)
def test_compressed_files_and_quiet_rotated_ones_are_final(tmp_path, name, final):
    path = tmp_path / name
    path.write_bytes(b"")
    assert is_final(path) is name.endswith(".gz")  # just written: a rotated file may still get its last line
    quiet(path)
    assert is_final(path) is final


def quiet(path: Path) -> Path:
    """Make `path` look untouched for longer than a rotated file needs to be taken as complete."""
    long_ago = time.time() - tasks.core.streams.ROTATED_QUIET_SECONDS - 1
    os.utime(path, (long_ago, long_ago))
    return path


@settings(max_examples=150, deadline=None)
@given(
    content=st.binary(max_size=300).map(lambda data: data.replace(b"\r", b"")),
    block=st.integers(min_value=1, max_value=64),
    offsets=st.lists(st.integers(min_value=0, max_value=320), max_size=8),
    final=st.booleans(),
)
def test_a_scan_hashes_the_content_before_each_offset_asked_for_whatever_the_blocks(
    tmp_path_factory, content, block, offsets, final
):
    path = tmp_path_factory.mktemp("scan") / ("access.log.1" if final else "access.log")
    path.write_bytes(content)
    quiet(path)
    original_block = tasks.core.streams._BLOCK
    tasks.core.streams._BLOCK = block
    try:
        scan = scan_file(path, lambda stream_id: offsets)
    finally:
        tasks.core.streams._BLOCK = original_block

    assert scan.length == len(content)
    asked = {*offsets} if scan.stream_id is not None else set()  # offsets are a stream's: none without one
    for offset in asked | {0, len(content)}:
        if offset <= len(content):
            assert scan.hashes[offset] == sha(content[:offset])
    first_newline = content.find(b"\n")
    if first_newline >= 0:
        assert scan.stream_id == sha(content[: first_newline + 1])
        loadable = len(content) if final else content.rfind(b"\n") + 1
        assert scan.loadable_end == loadable
        assert scan.hashes[loadable] == sha(content[:loadable])
    elif final and content:
        assert (scan.stream_id, scan.loadable_end) == (sha(content), len(content))
    else:
        assert (scan.stream_id, scan.loadable_end) == (None, 0)


def test_a_compressed_file_is_scanned_as_its_content(tmp_path):
    content = lines("/a", "/b")
    (tmp_path / "access.log.2.gz").write_bytes(gzip.compress(content))

    scan = scan_file(tmp_path / "access.log.2.gz", lambda stream_id: ())

    assert (scan.length, scan.loadable_end, scan.hashes[len(content)]) == (len(content), len(content), sha(content))


def test_a_first_line_longer_than_the_head_limit_is_known_by_its_first_bytes(tmp_path):
    content = b"x" * (HEAD_LIMIT + 10) + b"\n"
    (tmp_path / "access.log").write_bytes(content)

    assert scan_file(tmp_path / "access.log", lambda stream_id: ()).stream_id == sha(content[:HEAD_LIMIT])


def test_a_corrupt_gzip_is_unreadable_content_not_a_crash(tmp_path):
    (tmp_path / "access.log.2.gz").write_bytes(gzip.compress(lines("/a") * 200)[:40])

    (scanned,) = scan_files([tmp_path / "access.log.2.gz"], [])

    assert isinstance(scanned, tasks.core.streams.UnreadableContent)
    assert "corrupt or truncated" in str(scanned)


def loaded_range(content: bytes, start: int, end: int, first_line: int, batch_id: str = "b1") -> LoadedRange:
    return LoadedRange(
        batch_id=batch_id,
        stream_id=sha(content[: content.find(b"\n") + 1]),
        start=start,
        end=end,
        first_line=first_line,
        rows_in=content[start:end].count(b"\n"),
        start_hash=sha(content[:start]),
        end_hash=sha(content[:end]),
    )


def plan(folder: Path, loaded: list[LoadedRange], reload: bool = False):
    paths = sorted(path for path in folder.iterdir() if path.is_file())
    return plan_stream_ranges("access_logs", scan_files(paths, loaded), loaded, reload)


def spans(planned) -> list[tuple[str, int, int, int]]:
    batches = planned.batches if isinstance(planned, StreamPlan) else planned.to_load
    return sorted((b.path.name, b.range.start, b.range.end, b.range.first_line) for b in batches)


def test_a_renamed_compressed_or_copied_file_of_loaded_content_plans_nothing(tmp_path):
    content = lines("/a", "/b", "/c")
    (tmp_path / "access.log.1").write_bytes(content)
    (tmp_path / "access.log.2.gz").write_bytes(gzip.compress(content))
    (tmp_path / "copy-of-access.log").write_bytes(content)

    planned = plan(tmp_path, [loaded_range(content, 0, len(content), 1)])

    assert (planned.batches, planned.nothing_new) == ([], 3)


def test_a_grown_file_plans_its_new_lines_from_the_line_after_the_loaded_ones(tmp_path):
    loaded_content = lines("/a", "/b")
    content = loaded_content + lines("/c", "/d") + b"half a li"
    (tmp_path / "access.log").write_bytes(content)

    planned = plan(tmp_path, [loaded_range(loaded_content, 0, len(loaded_content), 1)])

    assert spans(planned) == [("access.log", len(loaded_content), content.rfind(b"\n") + 1, 3)]
    (batch,) = planned.batches
    assert (batch.range.start_hash, batch.range.end_hash) == (
        sha(loaded_content),
        sha(content[: content.rfind(b"\n") + 1]),
    )
    assert planned.half_written == ["access.log"]


def test_a_rotated_file_loads_its_half_written_last_line_once_it_is_quiet(tmp_path):
    content = lines("/a") + b"half a li"
    (tmp_path / "access.log.1").write_bytes(content)

    assert spans(plan(tmp_path, [])) == [("access.log.1", 0, len(lines("/a")), 1)]
    quiet(tmp_path / "access.log.1")
    assert spans(plan(tmp_path, [])) == [("access.log.1", 0, len(content), 1)]


def test_a_truncated_file_is_a_new_stream(tmp_path):
    old = lines("/a", "/b")
    (tmp_path / "access.log").write_bytes(lines("/c"))

    planned = plan(tmp_path, [loaded_range(old, 0, len(old), 1)])

    assert spans(planned) == [("access.log", 0, len(lines("/c")), 1)]
    assert planned.batches[0].range.stream_id != loaded_range(old, 0, 1, 1).stream_id


def test_copies_in_one_run_load_once_from_the_longest(tmp_path):
    content = lines("/a", "/b", "/c")
    (tmp_path / "access.log").write_bytes(content)
    (tmp_path / "access.log.1").write_bytes(content[: len(lines("/a"))])  # an older copy: a prefix
    (tmp_path / "backup.log").write_bytes(content)

    planned = plan(tmp_path, [])

    assert spans(planned) == [("access.log", 0, len(content), 1)]
    assert planned.nothing_new == 2


def test_an_older_copy_of_content_loaded_further_plans_nothing_when_the_longer_file_is_there(tmp_path):
    content = lines("/a", "/b", "/c")
    first = len(lines("/a"))
    (tmp_path / "access.log").write_bytes(content)
    (tmp_path / "access.log.bak").write_bytes(content[: first + len(lines("/b"))])

    planned = plan(tmp_path, [loaded_range(content, 0, first, 1), loaded_range(content, first, len(content), 2, "b2")])

    assert (planned.batches, planned.nothing_new) == ([], 2)


def test_a_rewritten_file_continues_from_the_last_loaded_point_it_shares_and_is_a_fork_beside_the_old_content(
    tmp_path,
):
    loaded_content = lines("/a", "/b", "/c")
    first = len(lines("/a"))
    rewritten = lines("/a", "/x")
    (tmp_path / "access.log").write_bytes(rewritten)
    earlier = loaded_range(loaded_content, 0, first, 1, "b1")
    later = loaded_range(loaded_content, first, len(loaded_content), 2, "b2")

    planned = plan(tmp_path, [earlier, later])

    assert spans(planned) == [("access.log", first, len(rewritten), 2)]
    assert planned.batches[0].range.alongside == ("b2",)


def test_reload_plans_the_loaded_ranges_a_file_holds_again_with_the_same_identity(tmp_path):
    content = lines("/a", "/b", "/c")
    first = len(lines("/a"))
    (tmp_path / "access.log").write_bytes(content + lines("/d"))
    loaded = [loaded_range(content, 0, first, 1, "b1"), loaded_range(content, first, len(content), 2, "b2")]

    planned = plan(tmp_path, loaded, reload=True)

    assert spans(planned) == [
        ("access.log", 0, first, 1),
        ("access.log", first, len(content), 2),
        ("access.log", len(content), len(content) + len(lines("/d")), 4),
    ]


def test_a_file_without_a_whole_first_line_waits(tmp_path):
    (tmp_path / "access.log").write_bytes(b"half a li")
    (tmp_path / "empty.log").write_bytes(b"")

    planned = plan(tmp_path, [])

    assert (planned.batches, planned.nothing_new, planned.half_written) == ([], 2, ["access.log"])


def test_a_hard_link_and_a_moved_file_are_the_same_content(tmp_path):
    content = lines("/a", "/b")
    (tmp_path / "access.log").write_bytes(content)
    os.link(tmp_path / "access.log", tmp_path / "linked.log")
    other = tmp_path / "other"
    other.mkdir()
    shutil.move(tmp_path / "access.log", other / "access.log.1")

    planned = plan(tmp_path, [loaded_range(content, 0, len(content), 1)])

    assert (planned.batches, planned.nothing_new) == ([], 1)


# Discovery and loads against a warehouse.

REQUESTS = FactTable(pipeline="access_logs", table="logs.requests", partition_day="day")


def load_batches(batches, warehouse: Path) -> list[str]:
    statuses = []
    for batch in batches:
        staged = stage_batch(batch, ACCESS_LOG_FORMAT, staging_root_for(warehouse), 1 << 20)
        with open_warehouse(warehouse) as connection:
            statuses.append(load_staged_batch(connection, staged, REQUESTS, None).status)
    return statuses


def discover_logs(source: Path, warehouse: Path, **options):
    return discover(source, ACCESS_LOG_FILES, "access_logs", warehouse, append_only=True, **options)


def test_files_loaded_whole_before_streams_get_their_ranges_without_reloading(tmp_path):
    source, warehouse = tmp_path / "logs", tmp_path / "warehouse.duckdb"
    write_log(source / "access.log", [log_line(request="GET /a HTTP/1.1"), log_line(request="GET /b HTTP/1.1")])
    write_log(source / "old.log.gz", [log_line(request="GET /gz HTTP/1.1")])
    write_log(source / "gone.log", [log_line(request="GET /gone HTTP/1.1")])
    load_batches(discover(source, ACCESS_LOG_FILES, "access_logs", warehouse).to_load, warehouse)  # whole files
    (source / "gone.log").unlink()
    with (source / "access.log").open("a") as grown:
        grown.write(log_line(request="GET /c HTTP/1.1") + "\n")
    before = query(warehouse, "select batch_id, line_number, path from logs.requests order by all")

    discovery = discover_logs(source, warehouse)

    assert spans(discovery) == [("access.log", 2 * len(lines("/a")), 3 * len(lines("/a")), 3)]
    assert query(warehouse, "select batch_id, line_number, path from logs.requests order by all") == before
    assert query(
        warehouse,
        "select regexp_extract(source, '[^/]+$'), start_offset, end_offset, first_line from meta.batches order by all",
    ) == [
        ("access.log", 0, 2 * len(lines("/a")), 1),
        ("gone.log", None, None, None),
        ("old.log.gz", 0, len(lines("/gz")), 1),
    ]
    assert load_batches(discovery.to_load, warehouse) == ["loaded"]
    assert query(warehouse, "select path, line_number from logs.requests order by all") == [
        ("/a", 1),
        ("/b", 2),
        ("/c", 3),
        ("/gone", 1),
        ("/gz", 1),
    ]


def test_a_range_another_run_began_meanwhile_is_skipped_and_the_rest_loads_next(tmp_path):
    source, warehouse = tmp_path / "logs", tmp_path / "warehouse.duckdb"
    write_log(source / "access.log", [log_line(request="GET /a HTTP/1.1")])
    slow_run = discover_logs(source, warehouse)
    with (source / "access.log").open("a") as grown:
        grown.write(log_line(request="GET /b HTTP/1.1") + "\n")
    fast_run = discover_logs(source, warehouse)

    assert load_batches(fast_run.to_load, warehouse) == ["loaded"]
    assert load_batches(slow_run.to_load, warehouse) == ["skipped"]
    assert discover_logs(source, warehouse).to_load == []
    assert query(warehouse, "select path, line_number from logs.requests order by all") == [("/a", 1), ("/b", 2)]


def test_reloading_a_file_replaces_the_rows_of_the_ranges_it_holds(tmp_path):
    source, warehouse = tmp_path / "logs", tmp_path / "warehouse.duckdb"
    write_log(source / "access.log", [log_line(request="GET /a HTTP/1.1")])
    load_batches(discover_logs(source, warehouse).to_load, warehouse)
    with (source / "access.log").open("a") as grown:
        grown.write(log_line(request="GET /b HTTP/1.1") + "\n")
    load_batches(discover_logs(source, warehouse).to_load, warehouse)
    (source / "access.log").rename(source / "access.log.1")
    before = query(warehouse, "select batch_id, line_number, path from logs.requests order by all")

    reloaded = discover_logs(source, warehouse, files=["access.log.1"], reload=True)

    assert load_batches(reloaded.to_load, warehouse) == ["loaded", "loaded"]
    assert query(warehouse, "select batch_id, line_number, path from logs.requests order by all") == before
    assert query(warehouse, "select distinct regexp_extract(source, '[^/]+$') from logs.requests") == [
        ("access.log.1",)
    ]
    assert query(warehouse, "select status, count(*) from meta.batches group by all") == [("loaded", 2)]


def test_a_loaded_file_unchanged_since_the_last_run_is_not_read_again(tmp_path, monkeypatch):
    source, warehouse = tmp_path / "logs", tmp_path / "warehouse.duckdb"
    write_log(source / "access.log.2.gz", [log_line(request="GET /old HTTP/1.1")])
    write_log(source / "access.log", [log_line(request="GET /a HTTP/1.1")])
    load_batches(discover_logs(source, warehouse).to_load, warehouse)
    read = []
    real_scan_file = tasks.core.streams.scan_file
    monkeypatch.setattr(
        tasks.core.streams,
        "scan_file",
        lambda path, offsets_for: read.append(path.name) or real_scan_file(path, offsets_for),
    )

    assert discover_logs(source, warehouse).to_load == []
    assert read == []

    with (source / "access.log").open("a") as grown:
        grown.write(log_line(request="GET /b HTTP/1.1") + "\n")
    assert spans(discover_logs(source, warehouse)) == [("access.log", len(lines("/a")), 2 * len(lines("/a")), 2)]
    assert read == ["access.log"]


def test_a_line_the_server_finishes_after_logrotate_renamed_its_file_loads_whole(tmp_path):
    """logrotate `create`: the server writes on into access.log.1 until it reopens its logs."""
    source, warehouse = tmp_path / "logs", tmp_path / "warehouse.duckdb"
    line = lines("/finished-late")
    write_log(source / "access.log", [log_line(request="GET /a HTTP/1.1")])
    with (source / "access.log").open("ab") as server:
        server.write(line[:25])
        server.flush()
        load_batches(discover_logs(source, warehouse).to_load, warehouse)
        (source / "access.log").rename(source / "access.log.1")
        write_log(source / "access.log", [log_line(request="GET /b HTTP/1.1")])
        load_batches(discover_logs(source, warehouse).to_load, warehouse)
        server.write(line[25:])
    quiet(source / "access.log.1")
    load_batches(discover_logs(source, warehouse).to_load, warehouse)

    assert query(warehouse, "select path, line_number from logs.requests order by all") == [
        ("/a", 1),
        ("/b", 1),
        ("/finished-late", 2),
    ]
    assert query(warehouse, "select count(*) from meta.rejects") == [(0,)]
