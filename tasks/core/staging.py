"""Staging: a batch's parsed rows and rejects written as Parquet, the checkpoint between parsing and loading.

A batch is staged into a temporary folder that is renamed into place only when complete, with a manifest holding
its counts; a folder with a manifest is therefore always whole, and staging the same batch again reuses it.
"""

import contextlib
import hashlib
import importlib
import inspect
import json
import os
import shutil
import socket
import threading
import time
import uuid
from collections import Counter, deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import asdict, dataclass
from functools import lru_cache
from pathlib import Path

import duckdb
import polars as pl

from tasks.core.batches import Batch, check_unchanged_since_found
from tasks.core.disk_space import writing
from tasks.core.quoting import quote_identifier
from tasks.core.reading import BatchDataError, LineChunk, read_line_chunks
from tasks.core.settings import PARSE_WORKERS, WAREHOUSE_MEMORY_LIMIT
from tasks.core.validation import REJECT_SCHEMA

MANIFEST = "manifest.json"
# At most PARSE_WORKERS chunks are held in a process, whichever batches they come from: a chunk takes a slot before
# it is read and gives it back once it is staged, so memory stays bounded by the chunk size times the parse workers.
# Batches share the slots rather than taking turns: most export files are one chunk, and with one batch at a time
# such a file was parsed by one worker while the other waited for the next file.
_chunk_slots = threading.BoundedSemaphore(PARSE_WORKERS)
_COUNTS = ("rows_in", "rows_parsed", "rows_rejected", "bytes_read")
# Staging is read once, by the load: write speed matters more than size.
STAGING_COMPRESSION = "lz4"
# DuckDB's row group: a load reads a part's row groups in parallel, so a chunk written as one or two Polars row groups
# (its default is 512^2 rows) kept one of the two cores idle while it was inserted.
STAGING_ROW_GROUP_ROWS = 122_880


@dataclass(frozen=True)
class ParsedChunk:
    """Rows ready for the fact table, and rejects (`line_number`, `raw`, `reason`)."""

    rows: pl.DataFrame
    rejects: pl.DataFrame


@dataclass(frozen=True)
class SourceFormat:
    """How one kind of source file becomes rows: its pipeline, how it is read in chunks (of lines, by default),
    the chunk parser, that parser's code version, and checks across the whole batch once its chunks are staged (keys
    unique within a file, ...), each moving the rows it rejects to the batch's rejects and returning how many."""

    pipeline: str
    parse: Callable[[pl.DataFrame], ParsedChunk]
    version: str
    read: Callable[[Path, int], Iterator[LineChunk]] = read_line_chunks
    batch_checks: tuple[Callable[[Path], int], ...] = ()


@dataclass(frozen=True)
class StagedBatch:
    """What staging produced for one batch. `error` is set when the batch's content could not be read at all."""

    batch: Batch
    directory: str
    parser_version: str
    rows_in: int
    rows_parsed: int
    rows_rejected: int
    bytes_read: int
    started_at: float
    finished_at: float
    error: str | None = None

    @property
    def row_files(self) -> str:
        return str(Path(self.directory) / "rows-*.parquet")

    @property
    def reject_files(self) -> str:
        return str(Path(self.directory) / "rejects-*.parquet")


def code_version(*module_names: str) -> str:
    """A short hash of the modules' source: a changed parser gets a new version, so its cached output is not reused."""
    digest = hashlib.sha256()
    for name in module_names:
        digest.update(inspect.getsource(importlib.import_module(name)).encode())
    return digest.hexdigest()[:16]


def staging_directory(staging_root: Path, batch: Batch) -> Path:
    return staging_root / batch.pipeline / batch.batch_id


def stage_batch(
    batch: Batch,
    source_format: SourceFormat,
    staging_root: Path,
    chunk_bytes: int,
    on_progress: Callable[[float], None] = lambda fraction: None,
) -> StagedBatch:
    """Parse and validate `batch` chunk by chunk, writing rows and rejects as Parquet parts; return the summary.

    Content that cannot be read (corrupt gzip, not UTF-8, binary) gives a StagedBatch with `error` set and no rows,
    so the batch is recorded as failed while the others go on. `on_progress` hears the fraction of the file done.
    """
    directory = staging_directory(staging_root, batch)
    existing = read_manifest(directory)
    if _same_staging(existing, batch, source_format.version):
        return existing
    started = time.time()
    scratch = directory.with_name(f"{directory.name}.partial-{uuid.uuid4().hex[:8]}")
    with writing(f"the staged rows of {batch.path.name}", directory.parent, partial=scratch):
        scratch.mkdir(parents=True)
        counts, error = _parse_into(scratch, batch, source_format, chunk_bytes, on_progress)
        staged = StagedBatch(
            batch=batch,
            directory=str(directory),
            parser_version=source_format.version,
            started_at=started,
            finished_at=time.time(),
            error=error,
            **counts,
        )
        return _publish(scratch, directory, staged)


def _parse_into(
    scratch: Path,
    batch: Batch,
    source_format: SourceFormat,
    chunk_bytes: int,
    on_progress: Callable[[float], None],
) -> tuple[Counter, str | None]:
    """Parse and validate the batch into Parquet parts in `scratch`: the counts, or no rows and why its content
    cannot be read."""
    counts = Counter(dict.fromkeys(_COUNTS, 0))
    try:
        # The next chunk is read while earlier ones are parsed, once a slot is free (see _chunk_slots).
        with ThreadPoolExecutor(max_workers=PARSE_WORKERS) as pool:
            in_flight: deque[tuple[Future[Counter], int]] = deque()

            def collect_oldest() -> None:
                parsed_chunk, stored_position = in_flight.popleft()
                counts.update(parsed_chunk.result())
                on_progress(min(1.0, stored_position / max(batch.size_bytes, 1)))

            for part, chunk in enumerate(_slotted(_read_chunks(batch, source_format, chunk_bytes))):
                staged_chunk = pool.submit(_stage_chunk, chunk, part, scratch, source_format)
                staged_chunk.add_done_callback(lambda _: _chunk_slots.release())
                in_flight.append((staged_chunk, chunk.stored_position))
                if len(in_flight) >= PARSE_WORKERS:
                    collect_oldest()
            while in_flight:
                collect_oldest()
        for check in source_format.batch_checks:
            moved = check(scratch)
            counts.update(rows_parsed=-moved, rows_rejected=moved)
        lines_not_found = _give_moved_rows_their_text(scratch, batch, source_format, chunk_bytes)
        if batch.range is None:
            check_unchanged_since_found(batch)
        if lines_not_found:
            raise ValueError(f"{batch.path.name}: lines {lines_not_found} were staged but are not in the file")
        on_progress(1.0)
    except BatchDataError as bad_content:
        for part_file in scratch.glob("*.parquet"):
            part_file.unlink()
        return Counter(dict.fromkeys(_COUNTS, 0)), str(bad_content)
    return counts, None


def _slotted(chunks: Iterator[LineChunk]) -> Iterator[LineChunk]:
    """The chunks, each read once a slot is free; the caller gives the slot back when the chunk is staged."""
    while True:
        _chunk_slots.acquire()
        try:
            chunk = next(chunks, None)
        except BaseException:
            _chunk_slots.release()
            raise
        if chunk is None:
            _chunk_slots.release()
            return
        yield chunk


def _give_moved_rows_their_text(
    scratch: Path, batch: Batch, source_format: SourceFormat, chunk_bytes: int
) -> list[int]:
    """Give the rows that checks across the batch moved aside (see move_rows_to_rejects) their text as written, read
    from the source again, and make them rejects; returns the line numbers not found (none, unless the file changed).

    Staged rows leave their text out: writing it cost staging more than it cost to write all their typed columns,
    for the few rows such a check ever rejects. A file with none is not read again. Part N's rows came from the
    file's chunk N, so the chunks are read as staging read them, one at a time (in a parse slot), up to the last part
    with moved rows."""
    moved: dict[int, list[Path]] = {}
    for path in sorted(scratch.glob(f"{MOVED_PREFIX}*.parquet")):
        moved.setdefault(int(path.stem.rsplit("-", 1)[1]), []).append(path)
    not_found: list[int] = []
    if not moved:
        return not_found
    for part, chunk in enumerate(_slotted(_read_chunks(batch, source_format, chunk_bytes))):
        try:
            for path in moved.pop(part, ()):
                found = pl.read_parquet(path).join(
                    chunk.lines.select("line_number", "raw"), on="line_number", how="left"
                )
                not_found += found.filter(pl.col("raw").is_null())["line_number"].to_list()
                write_staged(found.select(*REJECT_SCHEMA), path.with_name(path.name.replace(MOVED_PREFIX, "rejects-")))
                path.unlink()
        finally:
            _chunk_slots.release()
        if not moved:
            break
    return not_found + [
        line for paths in moved.values() for path in paths for line in pl.read_parquet(path)["line_number"]
    ]


def _read_chunks(batch: Batch, source_format: SourceFormat, chunk_bytes: int) -> Iterator[LineChunk]:
    """The batch's chunks: the whole file in its format's way, or the lines of its range of a log stream."""
    if batch.range is None:
        return source_format.read(batch.path, chunk_bytes)
    span = batch.range
    return read_line_chunks(batch.path, chunk_bytes, span.start, span.end, span.first_line, exact_range=True)


def _stage_chunk(chunk: LineChunk, part: int, scratch: Path, source_format: SourceFormat) -> Counter:
    parsed = source_format.parse(chunk.lines)
    rejects = pl.concat([parsed.rejects, chunk.overlong]) if chunk.overlong.height else parsed.rejects
    write_staged(parsed.rows, scratch / f"rows-{part:05d}.parquet")
    write_staged(rejects, scratch / f"rejects-{part:05d}.parquet")
    return Counter(
        rows_in=chunk.lines.height + chunk.overlong.height,
        rows_parsed=parsed.rows.height,
        rows_rejected=rejects.height,
        bytes_read=chunk.bytes_read,
    )


def write_staged(frame: pl.DataFrame, path: Path) -> None:
    frame.write_parquet(path, compression=STAGING_COMPRESSION, row_group_size=STAGING_ROW_GROUP_ROWS)


# Rows a check across the batch rejected, waiting for their text as written (see _give_moved_rows_their_text).
MOVED_PREFIX = "moved-"
# Lines of a duplicated key a reject's reason lists; the others are counted.
LINES_LISTED = 10


# The duplicate-key checks of a process share one in-memory DuckDB per staging area: opening one costs ~12 ms, more
# than checking a small file's keys (3-4 ms), and the sales benchmark's 56 files paid ~0.7 CPU s for it. It spills
# into a folder of the staging area kept for that, one per host: DuckDB names its files there by process, and a new
# instance removes those of processes that are gone, so a run killed mid-check leaves nothing for long.
KEY_CHECK_SPILL = ".key-check-spill"


def key_counter(staging_area: Path) -> duckdb.DuckDBPyConnection:
    """The process's DuckDB for the duplicate-key checks of the batches staged in `staging_area`; a new one if that
    area's spill folder was removed meanwhile (an operator clearing staging), since DuckDB cannot spill into a
    folder removed under it."""
    spill = staging_area / KEY_CHECK_SPILL / socket.gethostname()
    if not spill.is_dir():
        spill.mkdir(parents=True, exist_ok=True)
        _key_counter.cache_clear()
    return _key_counter(spill)


@lru_cache(maxsize=1)
def _key_counter(spill: Path) -> duckdb.DuckDBPyConnection:
    return duckdb.connect(config={"memory_limit": WAREHOUSE_MEMORY_LIMIT, "temp_directory": str(spill)})


def reject_duplicate_keys(scratch: Path, key: tuple[str, ...], keep_first: bool = False) -> int:
    """Move the staged rows whose `key` occurs more than once in the batch to its rejects, each with a reason
    naming the key and where it occurs; or, with `keep_first`, all but the first row of each key (for deliveries
    that repeat the same event). Returns how many rows moved.

    The keys of a large file do not fit in memory, so DuckDB (in memory, not the warehouse: `key_counter`) counts
    them: its aggregation spills to disk under a memory limit, where Polars' holds every key. Only the key columns
    are read unless a duplicate exists, so a clean batch costs one columnar pass."""
    rows = str(scratch / "rows-*.parquet")
    columns = ", ".join(quote_identifier(column) for column in key)
    with key_counter(scratch.parent).cursor() as engine:
        duplicates = engine.sql(
            f"with counted as (select {columns}, count(*) as occurrences from read_parquet(?) "
            f"group by all having count(*) > 1) "
            f"select {columns}, occurrences, list(line_number order by line_number) as lines "
            f"from read_parquet(?) join counted using ({columns}) "
            f"group by all",
            params=[rows, rows],
        ).pl()
    if not duplicates.height:
        return 0
    # back in the staged types: DuckDB hands a zoned timestamp back in the machine's zone name ("Etc/UTC"), which
    # Polars will not join with the staged rows' "UTC"
    staged_types = pl.read_parquet_schema(next(iter(sorted(scratch.glob("rows-*.parquet")))))
    duplicates = duplicates.with_columns(pl.col(column).cast(staged_types[column]) for column in key)
    described_key = pl.concat_str(
        [pl.format("{} '{}'", pl.lit(column), pl.col(column).cast(pl.String)) for column in key], separator=", "
    )
    if keep_first:
        repeats = duplicates.with_columns(pl.col("lines").list.first().alias("first_line")).explode("lines")
        reasons = repeats.filter(pl.col("lines") != pl.col("first_line")).select(
            *key,
            pl.col("lines").alias("line_number"),
            pl.format("{} already on line {}", described_key, "first_line").alias("reason"),
        )
        return move_rows_to_rejects(scratch, reasons, on=(*key, "line_number"), name="repeats")
    listed = pl.col("lines").list.head(LINES_LISTED).cast(pl.List(pl.String)).list.join(", ")
    more = pl.when(pl.col("occurrences") > LINES_LISTED).then(pl.lit(", ...")).otherwise(pl.lit(""))
    reasons = duplicates.select(
        *key,
        pl.format("{} occurs {} times in this file (lines {}{})", described_key, "occurrences", listed, more).alias(
            "reason"
        ),
    )
    return move_rows_to_rejects(scratch, reasons, on=key, name="duplicates")


def move_rows_to_rejects(scratch: Path, reasons: pl.DataFrame, on: tuple[str, ...], name: str) -> int:
    """Move the staged rows that match a row of `reasons` on the columns `on` aside, with that row's `reason`, one
    part file at a time; returns how many rows moved. Staging then makes them rejects, with their text as written
    (see _give_moved_rows_their_text)."""
    moved = 0
    for part_file in sorted(scratch.glob("rows-*.parquet")):
        part = pl.read_parquet(part_file)
        rejected = part.join(reasons, on=list(on), how="inner", nulls_equal=True)
        if not rejected.height:
            continue
        write_staged(part.join(reasons, on=list(on), how="anti", nulls_equal=True), part_file)
        write_staged(
            rejected.select("line_number", "reason"),
            part_file.with_name(part_file.name.replace("rows-", f"{MOVED_PREFIX}{name}-")),
        )
        moved += rejected.height
    return moved


def _publish(scratch: Path, directory: Path, staged: StagedBatch) -> StagedBatch:
    """Write the manifest last, then swap the folder into place, so a crash never leaves a half batch visible.

    Where another run staged the same batch with the same parser meanwhile, its folder stays (it may be loading
    from it) and is returned instead.
    """
    manifest = asdict(staged)
    manifest["batch"]["path"] = str(staged.batch.path)
    (scratch / MANIFEST).write_text(json.dumps(manifest, indent=2))
    existing = read_manifest(directory)
    if _same_staging(existing, staged.batch, staged.parser_version):
        shutil.rmtree(scratch)
        return existing
    if directory.exists():
        shutil.rmtree(directory)
    os.replace(scratch, directory)
    return staged


def _same_staging(existing: StagedBatch | None, batch: Batch, parser_version: str) -> bool:
    return existing is not None and existing.batch == batch and existing.parser_version == parser_version


def read_manifest(directory: Path) -> StagedBatch | None:
    """The staged batch in `directory`, or None where there is no complete one."""
    try:
        manifest = json.loads((directory / MANIFEST).read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return None
    manifest["batch"] = Batch.from_json(manifest["batch"])
    return StagedBatch(**manifest)


# A scratch folder gains a part file every few seconds while its batch is parsed; one untouched this long was left
# by a killed run. Younger ones may belong to a run going on in another process, and are left alone.
ABANDONED_AFTER_SECONDS = 3600


def remove_abandoned_scratch(staging_root: Path, pipeline: str) -> None:
    """Clear the scratch folders of runs killed mid-parse: they are never reused."""
    cutoff = time.time() - ABANDONED_AFTER_SECONDS
    for scratch in (staging_root / pipeline).glob("*.partial-*"):
        if scratch.stat().st_mtime < cutoff:
            shutil.rmtree(scratch, ignore_errors=True)


def staging_epoch(staging_root: Path, pipeline: str) -> str:
    """An id of this staging area's lifetime: deleting the folder starts a new epoch, so cached paths into the
    old one are never reused."""
    marker = staging_root / pipeline / ".epoch"
    if not marker.exists():
        marker.parent.mkdir(parents=True, exist_ok=True)
        scratch = marker.with_name(f".epoch.{uuid.uuid4().hex}")
        scratch.write_text(uuid.uuid4().hex)
        # link, unlike rename, fails when the marker exists: of tasks starting together, the first one wins.
        with contextlib.suppress(FileExistsError):
            os.link(scratch, marker)
        scratch.unlink()
    return marker.read_text().strip()
