"""Choosing a run's files: by name, by the day in their name (a backfill), or all of them; never through a link
that leaves the source folder; an unreadable file alone failing."""

import os
from datetime import date
from pathlib import Path

import pytest
from log_files import log_line, write_log

from tasks.core import batches as batches_module
from tasks.core.batches import fingerprint_file, list_source_files
from tasks.core.landing import LandingScanner
from tasks.core.settings import staging_root_for
from tasks.core.staging import stage_batch
from tasks.kit import discovery as discovery_module
from tasks.kit.discovery import SourceUnavailable, day_in_name, discover, fingerprinted_batches, select_files
from tasks.pipelines.access_logs.source import ACCESS_LOG_FILES, ACCESS_LOG_FORMAT
from tasks.pipelines.billing.source import BILLING_EXPORTS
from tasks.pipelines.sales.source import SALES_EXPORTS
from tasks.pipelines.word_count.source import CORPUS_FILES
from tasks.warehouse.connection import open_warehouse
from tasks.warehouse.loads import FactTable, load_staged_batch

REQUESTS = FactTable(pipeline="access_logs", table="logs.requests", partition_day="day")

PATTERNS = ("*.log", "*.log.gz")


@pytest.mark.parametrize(
    ("name", "day"),
    [
        ("access-2026-10-01.log", date(2026, 10, 1)),
        ("access_2026_10_01.log.gz", date(2026, 10, 1)),
        ("access.20261001.log", date(2026, 10, 1)),
        ("host7-access-2026-02-28.log", date(2026, 2, 28)),
        ("2026-13-40-then-2026-11-02.log", date(2026, 11, 2)),  # the first valid calendar day counts
        ("access-202610011.log", None),  # nine digits are not a day
        ("access.log", None),
    ],
    ids=["dashes", "underscores", "compact", "other-digits-before", "invalid-then-valid", "too-many-digits", "none"],
)
def test_the_day_in_a_file_name(name, day):
    assert day_in_name(Path(name)) == day


LISTED = [Path("/in") / name for name in ("a-2026-09-30.log", "a-2026-10-01.log", "a-2026-10-02.log.gz", "a.log")]


@pytest.mark.parametrize(
    ("first_day", "last_day", "expected"),
    [
        (None, None, ["a-2026-09-30.log", "a-2026-10-01.log", "a-2026-10-02.log.gz", "a.log"]),
        (date(2026, 10, 1), date(2026, 10, 1), ["a-2026-10-01.log"]),
        (date(2026, 10, 1), None, ["a-2026-10-01.log", "a-2026-10-02.log.gz"]),
        (None, date(2026, 9, 30), ["a-2026-09-30.log"]),
        (date(2026, 11, 1), None, []),
    ],
    ids=["no-range-takes-all", "one-day", "open-end", "open-start", "nothing-in-range"],
)
def test_a_date_range_keeps_the_files_whose_name_carries_a_day_in_it(first_day, last_day, expected):
    selected = select_files(LISTED, None, Path("/in"), PATTERNS, first_day, last_day)
    assert [path.name for path in selected] == expected


def test_named_files_must_also_fall_in_the_range():
    assert select_files(LISTED, ["a-2026-10-01.log"], Path("/in"), PATTERNS, date(2026, 10, 1)) == [LISTED[1]]
    with pytest.raises(SourceUnavailable, match="a-2026-09-30.log is outside the days asked for"):
        select_files(LISTED, ["a-2026-09-30.log"], Path("/in"), PATTERNS, date(2026, 10, 1))


def test_a_range_that_ends_before_it_starts_is_refused():
    with pytest.raises(SourceUnavailable, match="the first day 2026-10-02 is after the last day 2026-10-01"):
        select_files(LISTED, None, Path("/in"), PATTERNS, date(2026, 10, 2), date(2026, 10, 1))


# Links and unreadable files, in every discovery path: whole files (sales, billing, word count), log streams and the
# landing watcher all list files with list_source_files.


@pytest.fixture
def folder_with_links(tmp_path):
    source = tmp_path / "source"
    outside = tmp_path / "outside"
    write_log(source / "access.log", [log_line(request="GET /inside HTTP/1.1")])
    write_log(outside / "secret.log", [log_line(request="GET /secret HTTP/1.1")])
    (source / "escape.log").symlink_to(outside / "secret.log")
    (source / "escape-by-dots.log").symlink_to(Path("..") / "outside" / "secret.log")
    (source / "alias.log").symlink_to(source / "access.log")  # inside: an alias of a file of the folder
    return source


def test_links_are_followed_only_to_files_inside_the_source_folder(folder_with_links):
    listed = list_source_files(folder_with_links, ACCESS_LOG_FILES)

    assert [path.name for path in listed] == ["access.log", "alias.log"]


@pytest.mark.parametrize("append_only", [False, True], ids=["whole-files", "log-streams"])
def test_no_discovery_reads_through_a_link_that_leaves_the_folder(folder_with_links, tmp_path, append_only):
    discovery = discover(
        folder_with_links, ACCESS_LOG_FILES, "access_logs", tmp_path / "warehouse.duckdb", append_only=append_only
    )

    assert {batch.path.name for batch in discovery.to_load} <= {"access.log", "alias.log"}
    assert all("outside" not in batch.source for batch in discovery.to_load)


def test_the_watcher_does_not_announce_a_link_that_leaves_the_folder(folder_with_links):
    scanner = LandingScanner(folder_with_links, ACCESS_LOG_FILES, "access_logs")

    announced = [landed.name for landed in scanner.scan() + scanner.scan()]

    assert announced == ["access.log"]  # alias.log holds the same content: announced once


def test_a_named_link_that_leaves_the_folder_is_refused_in_one_line(folder_with_links):
    listed = list_source_files(folder_with_links, ACCESS_LOG_FILES)

    with pytest.raises(SourceUnavailable, match="escape.log is a link to a file outside .*: links are followed only"):
        select_files(listed, ["escape.log"], folder_with_links, ACCESS_LOG_FILES)


@pytest.mark.parametrize(
    "pipeline, patterns, name",
    [
        ("access_logs", ACCESS_LOG_FILES, "access-2026-10-01.log"),
        ("sales", SALES_EXPORTS.patterns, "orders_2026-10-01.csv"),
        ("billing", BILLING_EXPORTS.patterns, "usage_2026-10-01.csv.gz"),
        ("word_count", CORPUS_FILES, "notes.txt"),
    ],
)
@pytest.mark.parametrize("target", ["/etc/passwd", "../outside/secret", "inside/../../outside/secret"])
def test_every_pipeline_and_the_watcher_skip_a_link_out_of_the_folder(tmp_path, pipeline, patterns, name, target):
    source = tmp_path / "source"
    source.mkdir()
    (tmp_path / "outside").mkdir()
    (tmp_path / "outside" / "secret").write_text("root:x:0:0:root:/root:/bin/bash\n")
    (source / name).symlink_to(target)

    assert list_source_files(source, patterns) == []
    assert (
        discover(source, patterns, pipeline, tmp_path / "w.duckdb", append_only=pipeline == "access_logs").to_load == []
    )
    assert LandingScanner(source, patterns, pipeline).scan() == []
    with pytest.raises(SourceUnavailable, match=f"{name} is a link to a file outside"):
        select_files(list_source_files(source, patterns), [name], source, patterns)


@pytest.fixture
def unreadable(monkeypatch):
    """Opening a file called secret.log fails as it does for a file this process may not read (tests run as root,
    who may read anything)."""
    real_open = Path.open

    def open_unless_secret(path, mode="r", *arguments, **options):
        if path.name == "secret.log" and mode.startswith("r"):
            raise PermissionError(13, "Permission denied", str(path))
        return real_open(path, mode, *arguments, **options)

    monkeypatch.setattr(Path, "open", open_unless_secret)


@pytest.mark.usefixtures("unreadable")
@pytest.mark.parametrize("append_only", [False, True], ids=["whole-files", "log-streams"])
def test_an_unreadable_file_fails_alone_with_its_reason(tmp_path, append_only):
    source, warehouse = tmp_path / "logs", tmp_path / "warehouse.duckdb"
    write_log(source / "good.log", [log_line()])
    write_log(source / "secret.log", [log_line(request="GET /secret HTTP/1.1")])

    discovery = discover(source, ACCESS_LOG_FILES, "access_logs", warehouse, append_only=append_only)
    staged = {
        batch.path.name: stage_batch(batch, ACCESS_LOG_FORMAT, staging_root_for(warehouse), 1 << 20)
        for batch in discovery.to_load
    }

    assert staged.keys() == {"good.log", "secret.log"}
    assert (staged["good.log"].error, staged["good.log"].rows_in) == (None, 1)
    assert staged["secret.log"].error == "secret.log cannot be read: permission denied"


@pytest.fixture
def counted_hashing(monkeypatch):
    """The names of the files discovery hashes, in order."""
    hashed = []
    real = batches_module.fingerprint_file

    def fingerprint_file(path):
        hashed.append(path.name)
        return real(path)

    monkeypatch.setattr(batches_module, "fingerprint_file", fingerprint_file)
    return hashed


def test_a_re_run_hashes_only_the_files_that_changed(tmp_path, counted_hashing, monkeypatch):
    monkeypatch.setattr(discovery_module, "QUIET_NANOSECONDS", 0)  # files written just now count as quiet
    source, cache = tmp_path / "exports", tmp_path / "cache.json"
    for number in range(5):
        (source / f"part-{number}.txt").parent.mkdir(exist_ok=True)
        (source / f"part-{number}.txt").write_text(f"words {number}\n")
    files = sorted(source.iterdir())

    first = fingerprinted_batches("word_count", files, cache)
    assert len(counted_hashing) == 5
    counted_hashing.clear()

    # same size, same mtime, other content: only ctime and the content tell
    changed = source / "part-2.txt"
    stat = changed.stat()
    changed.write_text("WORDS 2\n")
    os.utime(changed, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    (source / "part-5.txt").write_text("new\n")
    again = fingerprinted_batches("word_count", sorted(source.iterdir()), cache)

    assert sorted(counted_hashing) == ["part-2.txt", "part-5.txt"]  # hashed on threads: in any order
    assert [b.batch_id for b in again[:2] + again[3:5]] == [b.batch_id for b in first[:2] + first[3:]]
    assert again[2].fingerprint != first[2].fingerprint
    assert again[2].fingerprint == fingerprint_file(changed)


def test_a_file_changed_in_the_second_it_was_hashed_is_hashed_again_next_time(tmp_path, counted_hashing):
    source, cache = tmp_path / "exports", tmp_path / "cache.json"
    source.mkdir()
    (source / "fresh.txt").write_text("just written\n")

    fingerprinted_batches("word_count", [source / "fresh.txt"], cache)
    fingerprinted_batches("word_count", [source / "fresh.txt"], cache)

    assert counted_hashing == ["fresh.txt", "fresh.txt"]


def test_a_file_moved_over_another_is_hashed(tmp_path, counted_hashing, monkeypatch):
    monkeypatch.setattr(discovery_module, "QUIET_NANOSECONDS", 0)
    source, cache = tmp_path / "exports", tmp_path / "cache.json"
    source.mkdir()
    (source / "day.csv").write_text("a\n")
    fingerprinted_batches("word_count", [source / "day.csv"], cache)
    (tmp_path / "redelivered.csv").write_text("b\n")
    os.utime(tmp_path / "redelivered.csv", ns=((source / "day.csv").stat().st_atime_ns,) * 2)
    os.replace(tmp_path / "redelivered.csv", source / "day.csv")

    batch = fingerprinted_batches("word_count", [source / "day.csv"], cache)[0]

    assert counted_hashing == ["day.csv", "day.csv"]
    assert batch.fingerprint == fingerprint_file(source / "day.csv")


def test_a_damaged_fingerprint_cache_only_costs_a_re_hash(tmp_path, counted_hashing, monkeypatch):
    monkeypatch.setattr(discovery_module, "QUIET_NANOSECONDS", 0)
    source, cache = tmp_path / "exports", tmp_path / "cache.json"
    source.mkdir()
    (source / "a.txt").write_text("a\n")
    for damage in ("{not json", '{"x": 1}', "[]", ""):
        cache.write_text(damage)
        assert fingerprinted_batches("word_count", [source / "a.txt"], cache)[0].fingerprint == fingerprint_file(
            source / "a.txt"
        )
    assert len(counted_hashing) == 4


def test_a_log_rewritten_to_the_same_size_and_time_is_read_again(tmp_path):
    source, warehouse = tmp_path / "logs", tmp_path / "warehouse.duckdb"
    log = write_log(source / "access.log", [log_line(request="GET /first HTTP/1.1")])
    first = discover(source, ACCESS_LOG_FILES, "access_logs", warehouse, append_only=True)
    for batch in first.to_load:
        staged = stage_batch(batch, ACCESS_LOG_FORMAT, staging_root_for(warehouse), 1 << 20)
        with open_warehouse(warehouse) as connection:
            load_staged_batch(connection, staged, REQUESTS, None)

    stat = log.stat()
    log.write_text(log.read_text().replace("/first", "/other"))  # same length
    os.utime(log, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    again = discover(source, ACCESS_LOG_FILES, "access_logs", warehouse, append_only=True)

    assert (log.stat().st_size, log.stat().st_mtime_ns) == (stat.st_size, stat.st_mtime_ns)
    assert [batch.path.name for batch in again.to_load] == ["access.log"]
