"""Discovering a run's batches: the source files, fingerprinted, less those the ledger says are loaded."""

import json
import os
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from tasks.core.batches import (
    Batch,
    StreamRange,
    day_in_name,
    fingerprint_file,
    list_source_files,
    make_batch,
    stays_inside,
)
from tasks.core.errors import PermanentError
from tasks.core.settings import PARSE_WORKERS, staging_root_for
from tasks.core.staging import remove_abandoned_scratch
from tasks.core.streams import EMPTY_PREFIX, FileScan, UnreadableContent, plan_stream_ranges, scan_file, scan_files
from tasks.warehouse.connection import open_warehouse, prepare_warehouse
from tasks.warehouse.loads import files_loaded_whole, loaded_batch_ids, loaded_stream_ranges, record_stream_ranges


class SourceUnavailable(PermanentError):
    """The source folder is missing or cannot be read."""


@dataclass(frozen=True)
class Discovery:
    """The batches to load in this run, how many files were skipped because they are loaded already, and (for
    logs) the files whose last line is still being written, which waits for a later run."""

    source: str
    to_load: list[Batch]
    already_loaded: int
    started_at: float
    # decided here, in the flow's process, and handed to the tasks that stage: a Dask worker elsewhere, with another
    # working directory and environment, would compute another place (see staging_root_for)
    staging_root: Path
    half_written: tuple[str, ...] = ()


def check_source(source: Path) -> None:
    """Fail with one clear message if `source` is not a readable folder."""
    if not source.exists():
        raise SourceUnavailable(f"source folder {source} does not exist")
    if not source.is_dir():
        raise SourceUnavailable(f"source {source} is not a folder")
    try:
        next(source.iterdir(), None)
    except OSError as error:
        raise SourceUnavailable(f"source folder {source} cannot be read: {error.strerror}") from error


def discover(
    source: Path,
    patterns: tuple[str, ...],
    pipeline: str,
    warehouse: Path,
    files: list[str] | None = None,
    reload: bool = False,
    first_day: date | None = None,
    last_day: date | None = None,
    append_only: bool = False,
) -> Discovery:
    """List and fingerprint the files in `source` and keep those whose exact content is not loaded yet.

    `files` narrows the run to those files of `source` (names or paths), `first_day`/`last_day` to the files whose
    name carries a date in that range; `reload` loads them even when the ledger says their content is loaded, as
    for a backfill after a parser fix. For `append_only` sources (logs) the batches are the ranges of content
    streams not loaded yet (see tasks/core/streams.py), whatever the files are called now.
    """
    started_at = time.time()
    check_source(source)
    prepare_warehouse(warehouse)
    staging_root = staging_root_for(warehouse)
    remove_abandoned_scratch(staging_root, pipeline)
    files = select_files(list_source_files(source, patterns), files, source, patterns, first_day, last_day)
    if append_only:
        return discover_stream_ranges(source, files, pipeline, warehouse, reload, started_at, staging_root)
    batches = fingerprinted_batches(pipeline, files, staging_root / pipeline / FINGERPRINT_CACHE)
    with open_warehouse(warehouse) as connection:
        loaded = loaded_batch_ids(connection, pipeline)
    to_load = [batch for batch in batches if reload or batch.batch_id not in loaded]
    return Discovery(
        source=str(source),
        to_load=to_load,
        already_loaded=len(batches) - len(to_load),
        started_at=started_at,
        staging_root=staging_root,
    )


def discover_stream_ranges(
    source: Path,
    files: list[Path],
    pipeline: str,
    warehouse: Path,
    reload: bool,
    started_at: float,
    staging_root: Path,
) -> Discovery:
    """The ranges of log streams in `files` that are not loaded yet (and, with `reload`, those that are). A file
    whose content cannot be read becomes a whole-file batch, so that staging records it as failed, with its reason."""
    record_ranges_of_whole_files(pipeline, warehouse)
    with open_warehouse(warehouse) as connection:
        loaded = loaded_stream_ranges(connection, pipeline)
    scan_cache = staging_root / pipeline / SCAN_CACHE
    earlier = {} if reload else read_scan_cache(scan_cache)
    with ThreadPoolExecutor(max_workers=PARSE_WORKERS) as pool:  # hashing and gunzip release the GIL
        scans = scan_files(files, loaded, pool.map, earlier)
    write_scan_cache(scan_cache, earlier | {str(scan.path): scan for scan in scans if isinstance(scan, FileScan)})
    plan = plan_stream_ranges(pipeline, [scan for scan in scans if isinstance(scan, FileScan)], loaded, reload)
    unreadable = [
        make_batch(pipeline, path) for path, scan in zip(files, scans, strict=True) if not isinstance(scan, FileScan)
    ]
    return Discovery(
        source=str(source),
        to_load=plan.batches + unreadable,
        already_loaded=plan.nothing_new,
        started_at=started_at,
        staging_root=staging_root,
        half_written=tuple(plan.half_written),
    )


# What the files of a log folder held when last read (tasks/core/streams.py, scan_files): a cache beside the staged
# batches, so deleting the staging folder only costs a re-read.
SCAN_CACHE = "file-scans.json"


def read_scan_cache(path: Path) -> dict[str, FileScan]:
    try:
        return {name: FileScan.from_json(scan) for name, scan in json.loads(path.read_text()).items()}
    except (FileNotFoundError, json.JSONDecodeError, TypeError, KeyError, ValueError):
        return {}


def write_scan_cache(path: Path, scans: dict[str, FileScan]) -> None:
    replace_json(path, {name: scan.as_json() for name, scan in scans.items() if Path(name).exists()})


def replace_json(path: Path, document: dict) -> None:
    """Replace the file whole (a rename), so that a run reading it meanwhile sees the old one or the new one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    scratch = path.with_name(f"{path.name}.{uuid.uuid4().hex[:8]}")
    scratch.write_text(json.dumps(document))
    os.replace(scratch, path)


def record_ranges_of_whole_files(pipeline: str, warehouse: Path) -> None:
    """Give the log files loaded whole before streams existed their stream range, where the file is still there
    with the content that was loaded (a plain file may have grown since: its loaded bytes are still its start), so
    that their content is known wherever it turns up; nothing is reloaded. The others stay as they are."""
    with open_warehouse(warehouse) as connection:
        whole_files = files_loaded_whole(connection, pipeline)
    found = {}
    for batch_id, source, fingerprint, size_bytes in whole_files:
        path = Path(source)
        try:
            if path.name.endswith(".gz") and fingerprint_file(path) != fingerprint:
                continue
            scan = scan_file(path, lambda stream_id, size=size_bytes: {size})
        except (OSError, UnreadableContent):
            continue
        end = scan.length if path.name.endswith(".gz") else size_bytes
        if scan.stream_id is None or (not path.name.endswith(".gz") and scan.hashes.get(end) != fingerprint):
            continue
        found[batch_id] = StreamRange(scan.stream_id, 0, end, 1, EMPTY_PREFIX, scan.hashes[end])
    if found:
        with open_warehouse(warehouse) as connection:
            record_stream_ranges(connection, found)


# The fingerprints of the whole files of a folder, by what `stat` said of each when it was hashed: a re-run hashes only
# the files that changed, so that it costs the same with ten files loaded as with ten thousand. Beside the staged
# batches, like the scan cache.
FINGERPRINT_CACHE = "file-fingerprints.json"
# A file is remembered only when its last change (ctime, which no program can set back) was this long before it was
# hashed. A write during or just after the hash then cannot hide behind an unchanged stat within one clock tick; it
# moves ctime past the remembered one.
QUIET_NANOSECONDS = 2_000_000_000


@dataclass(frozen=True)
class KnownFingerprint:
    """A file's fingerprint and the stat it had when hashed: device, inode, size, mtime and ctime."""

    stat: tuple[int, int, int, int, int]
    fingerprint: str


def stat_key(stat: os.stat_result) -> tuple[int, int, int, int, int]:
    return (stat.st_dev, stat.st_ino, stat.st_size, stat.st_mtime_ns, stat.st_ctime_ns)


def fingerprinted_batches(pipeline: str, files: list[Path], cache: Path) -> list[Batch]:
    """The whole-file batches of `files`: a fingerprint comes from `cache` when the file's stat is the one it had
    when hashed, and is computed (and remembered) otherwise."""
    earlier = read_fingerprint_cache(cache)
    remembered: dict[str, KnownFingerprint] = {}

    def batch_of(path: Path) -> Batch:
        source = str(path.resolve())
        before = path.stat()
        known = earlier.get(source)
        if known is not None and known.stat == stat_key(before):
            remembered[source] = known
            return Batch(pipeline, source, path, known.fingerprint, before.st_size)
        hashing_from = time.time_ns()
        batch = make_batch(pipeline, path)
        after = path.stat()
        quiet = after.st_ctime_ns < hashing_from - QUIET_NANOSECONDS
        if quiet and stat_key(after) == stat_key(before) and not batch.fingerprint.startswith("unreadable-"):
            remembered[source] = KnownFingerprint(stat_key(after), batch.fingerprint)
        return batch

    with ThreadPoolExecutor(max_workers=PARSE_WORKERS) as pool:  # hashing releases the GIL
        batches = list(pool.map(batch_of, files))
    if (updated := earlier | remembered) != earlier:
        write_fingerprint_cache(cache, updated)
    return batches


def read_fingerprint_cache(path: Path) -> dict[str, KnownFingerprint]:
    try:
        return {
            source: KnownFingerprint(tuple(stat), fingerprint)
            for source, (stat, fingerprint) in json.loads(path.read_text()).items()
        }
    except (FileNotFoundError, json.JSONDecodeError, TypeError, ValueError, AttributeError):
        return {}


def write_fingerprint_cache(path: Path, known: dict[str, KnownFingerprint]) -> None:
    """Replace the cache whole (a rename), keeping the files that still exist."""
    entries = {source: [list(k.stat), k.fingerprint] for source, k in known.items() if Path(source).exists()}
    replace_json(path, entries)


# A day in a file name: 2026-10-01, 2026_10_01 or 20261001, not inside a longer run of digits.
def select_files(
    listed: list[Path],
    wanted: list[str] | None,
    source: Path,
    patterns: tuple[str, ...],
    first_day: date | None = None,
    last_day: date | None = None,
) -> list[Path]:
    """The listed files named in `wanted` (by name, or by a path to the same file; all of them when it is None)
    whose name carries a day from `first_day` to `last_day` (inclusive; either end may be open, and with both open
    the names' days do not matter)."""
    if first_day and last_day and first_day > last_day:
        raise SourceUnavailable(f"the first day {first_day} is after the last day {last_day}")
    dated = listed
    if first_day or last_day:
        dated = [path for path in listed if within(day_in_name(path), first_day, last_day)]
    if wanted is None:
        return dated
    selected = []
    for name in wanted:
        path = _named(dated, name)
        if path is None:
            raise SourceUnavailable(_not_selectable(name, source, patterns, _named(listed, name) is not None))
        selected.append(path)
    return sorted(set(selected))


def _named(listed: list[Path], name: str) -> Path | None:
    """The listed file called `name`, or at the path `name`."""
    resolved = Path(name).resolve()
    return next((path for path in listed if path.name == name or path.resolve() == resolved), None)


def _not_selectable(name: str, source: Path, patterns: tuple[str, ...], listed_but_not_dated: bool) -> str:
    """Why the file `name` cannot be selected, in one line."""
    if listed_but_not_dated:
        return f"{name} is outside the days asked for (by the day in its name)"
    candidate = Path(name) if Path(name).is_absolute() else source / name
    if candidate.is_symlink() and not stays_inside(candidate, source):
        return f"{name} is a link to a file outside {source}: links are followed only inside the source folder"
    if not candidate.exists():
        return f"{name} is not in {source}"
    if candidate.resolve().parent != source.resolve() or not candidate.is_file():
        return f"{name} is not a file directly in {source}"
    return f"{name} does not match the file patterns ({' '.join(patterns)})"


def within(day: date | None, first_day: date | None, last_day: date | None) -> bool:
    return day is not None and (first_day is None or day >= first_day) and (last_day is None or day <= last_day)
