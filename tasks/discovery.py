"""Discovering a run's batches: the source files, fingerprinted, less those the ledger says are loaded."""

import re
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from tasks.batches import Batch, list_source_files, make_batch
from tasks.settings import PARSE_WORKERS, staging_root_for
from tasks.staging import remove_abandoned_scratch
from tasks.warehouse import loaded_batch_ids, open_warehouse, prepare_warehouse


class SourceUnavailable(Exception):
    """The source folder is missing or cannot be read."""


@dataclass(frozen=True)
class Discovery:
    """The batches to load in this run, and how many files were skipped because they are loaded already."""

    source: str
    to_load: list[Batch]
    already_loaded: int
    started_at: float


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
) -> Discovery:
    """List and fingerprint the files in `source` and keep those whose exact content is not loaded yet.

    `files` narrows the run to those files of `source` (names or paths), `first_day`/`last_day` to the files whose
    name carries a date in that range; `reload` loads them even when the ledger says their content is loaded, as
    for a backfill after a parser fix.
    """
    started_at = time.time()
    check_source(source)
    prepare_warehouse(warehouse)
    remove_abandoned_scratch(staging_root_for(warehouse), pipeline)
    files = select_files(list_source_files(source, patterns), files, source, patterns, first_day, last_day)
    with ThreadPoolExecutor(max_workers=PARSE_WORKERS) as pool:  # hashing releases the GIL
        batches = list(pool.map(lambda path: make_batch(pipeline, path), files))
    with open_warehouse(warehouse) as connection:
        loaded = loaded_batch_ids(connection, pipeline)
    to_load = [batch for batch in batches if reload or batch.batch_id not in loaded]
    return Discovery(
        source=str(source), to_load=to_load, already_loaded=len(batches) - len(to_load), started_at=started_at
    )


# A day in a file name: 2026-10-01, 2026_10_01 or 20261001, not inside a longer run of digits.
DAY_IN_NAME = re.compile(r"(?<!\d)(\d{4})[-_]?(\d{2})[-_]?(\d{2})(?!\d)")


def day_in_name(path: Path) -> date | None:
    """The first valid calendar day written in the file's name, if any."""
    for match in DAY_IN_NAME.finditer(path.name):
        try:
            return date(*(int(part) for part in match.groups()))
        except ValueError:
            continue
    return None


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
    if first_day or last_day:
        listed = [path for path in listed if within(day_in_name(path), first_day, last_day)]
    if wanted is None:
        return listed
    by_name = {path.name: path for path in listed}
    by_path = {path.resolve(): path for path in listed}
    selected = []
    for name in wanted:
        path = by_name.get(name) or by_path.get(Path(name).resolve())
        if path is None:
            dated = f" dated {first_day or '...'} to {last_day or '...'}" if first_day or last_day else ""
            raise SourceUnavailable(f"{name} is not a {' or '.join(patterns)} file{dated} directly in {source}")
        selected.append(path)
    return sorted(set(selected))


def within(day: date | None, first_day: date | None, last_day: date | None) -> bool:
    return day is not None and (first_day is None or day >= first_day) and (last_day is None or day <= last_day)
