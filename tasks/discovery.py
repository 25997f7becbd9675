"""Discovering a run's batches: the source files, fingerprinted, less those the ledger says are loaded."""

import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from tasks.batches import Batch, list_source_files, make_batch
from tasks.settings import PARSE_WORKERS
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


def discover(source: Path, patterns: tuple[str, ...], pipeline: str, warehouse: Path) -> Discovery:
    """List and fingerprint the files in `source` and keep those whose exact content is not loaded yet."""
    started_at = time.time()
    check_source(source)
    prepare_warehouse(warehouse)
    files = list_source_files(source, patterns)
    with ThreadPoolExecutor(max_workers=PARSE_WORKERS) as pool:  # hashing releases the GIL
        batches = list(pool.map(lambda path: make_batch(pipeline, path), files))
    with open_warehouse(warehouse) as connection:
        loaded = loaded_batch_ids(connection, pipeline)
    to_load = [batch for batch in batches if batch.batch_id not in loaded]
    return Discovery(
        source=str(source), to_load=to_load, already_loaded=len(batches) - len(to_load), started_at=started_at
    )
