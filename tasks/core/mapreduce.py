"""MapReduce over text files, as Hadoop does it: input splits, a map (and optional combiner) per split, a shuffle
that hash-partitions map output into Parquet spill files, and reducers that each read only their partition.

A job is plain functions over Polars frames (`MapReduceJob`); this module runs its pieces and keeps Hadoop's
counters. Nothing here is held in memory beyond one chunk of one split, or one reducer's partition, and nothing
large travels between tasks: spills and reduce output are files under a work folder every worker can reach, and
tasks pass their paths.

Spill and reduce folders are written beside their final name and renamed into place when whole, with a manifest
holding their counters, so a retried or re-run task finds finished work and reuses it.
"""

import dataclasses
import hashlib
import json
import os
import shutil
import threading
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import polars as pl

from tasks.core.batches import Batch, check_unchanged_since_found
from tasks.core.disk_space import writing
from tasks.core.reading import BatchDataError, LineChunk, read_line_chunks
from tasks.core.settings import MAX_LINE_BYTES, PARSE_WORKERS

MANIFEST = "manifest.json"
REJECTS = "rejects.parquet"  # in a map's folder: the runs too long to map, line numbers counted from its split
# Splits mapped at once in a process, however many task threads there are: a map is CPU-bound (Polars uses every
# core within it) and holds a chunk's worth of memory, so more at once only costs memory.
_map_slots = threading.BoundedSemaphore(PARSE_WORKERS)
SPILL_COMPRESSION = "lz4"  # spills are read once, by one reducer: writing fast matters more than size


@dataclass(frozen=True)
class Split:
    """The lines of `batch`'s file that begin in bytes [start, end) (`end` None: to the end of the file)."""

    batch: Batch
    index: int
    start: int
    end: int | None

    @property
    def split_id(self) -> str:
        return f"{self.batch.batch_id}-{self.index:05d}"

    @property
    def description(self) -> str:
        if self.end is None and self.start == 0:
            return self.batch.path.name
        return f"{self.batch.path.name} bytes {self.start:,}-{self.end:,}"


@dataclass(frozen=True)
class MapReduceJob:
    """What a MapReduce computes, as functions of Polars frames.

    `map_lines` turns a chunk of lines (`line_number`, `raw`) of one split into rows of `map_schema`, whose `key`
    column decides their partition; a line longer than the line limit comes to it in pieces cut just after one of
    the `cut_long_lines_after` bytes (which must not change what it maps), and a run of more than the limit without
    one is not mapped but rejected; `combine`, optional, aggregates rows (all from one split) of one key without
    changing their meaning, and may run again on its own output, as Hadoop's combiners may (a chunk's rows are
    combined, then those of the chunks a spill holds); each reducer turns all rows of one partition into output
    rows. `version` must change whenever any of these does.
    `map_and_combine`, optional, is the map and the combiner in one pass over a chunk (Lin and Dyer's in-mapper
    combining), used when the combiner is on: it returns the rows `combine(map_lines(lines, split))` holds, in any
    order, and how many rows `map_lines` would have emitted (the map output records), without making them.
    """

    name: str
    key: str
    map_schema: dict[str, pl.DataType]
    map_lines: Callable[[pl.DataFrame, Split], pl.DataFrame]
    combine: Callable[[pl.DataFrame], pl.DataFrame]
    reducers: dict[str, Callable[[pl.LazyFrame], pl.LazyFrame]]
    cut_long_lines_after: bytes
    version: str
    map_and_combine: Callable[[pl.DataFrame, Split], tuple[pl.DataFrame, int]] | None = None


@dataclass(frozen=True)
class MapCounters:
    records_read: int = 0  # lines
    bytes_read: int = 0
    map_output_records: int = 0
    combine_input_records: int = 0
    combine_output_records: int = 0
    spilled_records: int = 0
    spilled_bytes: int = 0

    def __add__(self, other: "MapCounters") -> "MapCounters":
        return MapCounters(*(getattr(self, f.name) + getattr(other, f.name) for f in fields(self)))


@dataclass(frozen=True)
class MapOutput:
    """One split's map output: its spill folder (and `rejected` runs in its rejects file), or the reason its content
    could not be read."""

    split: Split
    directory: str
    counters: MapCounters
    error: str | None = None
    rejected: int = 0

    @property
    def rejects_path(self) -> str:
        return str(Path(self.directory) / REJECTS)


@dataclass(frozen=True)
class ReduceOutput:
    reducer: str
    partition: int
    path: str
    input_records: int
    input_groups: int
    output_records: int


@dataclass(frozen=True)
class Shuffle:
    """Where one run's map output is: the spill folders of the batches whose every split was mapped, and the
    batches that could not be (with why)."""

    job_directory: str
    partitions: int
    map_directories: list[str]
    complete: list[Batch]
    failed: list[tuple[Batch, str]]  # with the reason
    counters_by_batch: dict[str, MapCounters]
    # per batch that goes on: its maps' rejects files with the lines before each map's split, and their count
    rejects_by_batch: dict[str, list[tuple[str, int]]] = dataclasses.field(default_factory=dict)
    rejected_by_batch: dict[str, int] = dataclasses.field(default_factory=dict)

    @property
    def counters(self) -> MapCounters:
        total = MapCounters()
        for counters in self.counters_by_batch.values():
            total += counters
        return total

    @property
    def partitions_to_reduce(self) -> list[int]:
        """Every partition, if any batch goes on to the warehouse; none otherwise."""
        return list(range(self.partitions)) if self.complete else []

    @property
    def run_key(self) -> str:
        return hashlib.sha256("\n".join(sorted(self.map_directories)).encode()).hexdigest()[:16]

    @property
    def reduce_directory(self) -> Path:
        return Path(self.job_directory) / "reduce" / self.run_key


def plan_splits(batches: Iterable[Batch], split_bytes: int) -> list[Split]:
    """Cut each file into byte ranges of `split_bytes` (each read to whole lines); a compressed file, which cannot be
    read from the middle, is one split. The longest come first (compressed files, whose text is several times their
    size, then by bytes), so that the maps still running at the end are short ones and no core waits on a long
    one."""
    if split_bytes < 1:
        raise ValueError(f"split_bytes must be at least 1, not {split_bytes}")
    splits = []
    for batch in batches:
        if batch.path.name.endswith(".gz") or batch.size_bytes <= split_bytes:
            splits.append(Split(batch, 0, 0, None))
            continue
        starts = range(0, batch.size_bytes, split_bytes)
        splits += [
            Split(batch, index, start, min(start + split_bytes, batch.size_bytes)) for index, start in enumerate(starts)
        ]
    return sorted(splits, key=lambda split: (split.batch.path.name.endswith(".gz"), _stored_bytes(split)), reverse=True)


def _stored_bytes(split: Split) -> int:
    return (split.batch.size_bytes if split.end is None else split.end) - split.start


def job_directory(work_root: Path, job: MapReduceJob, partitions: int, combine: bool) -> Path:
    """The folder of a job's spills and outputs for one configuration: a changed job, partition count or combiner
    setting never reuses another's files."""
    settings = f"{job.version}-r{partitions}-{'combined' if combine else 'uncombined'}"
    return work_root / job.name / settings


def run_map(
    split: Split, job: MapReduceJob, work_root: Path, partitions: int, combine: bool, chunk_bytes: int
) -> MapOutput:
    """Map one split chunk by chunk, combine each chunk's output if asked, and spill it hash-partitioned by key into
    `partitions` Parquet files per chunk. Content that cannot be read gives a MapOutput with `error` set."""
    directory = job_directory(work_root, job, partitions, combine) / "map" / split.split_id
    done = read_map_manifest(directory)
    if done is not None and done.split == split:
        return done
    scratch = directory.with_name(f"{directory.name}.partial-{uuid.uuid4().hex[:8]}")
    with writing("the spill folder", scratch.parent):
        scratch.mkdir(parents=True)
    error = None
    try:
        with _map_slots:
            counters, rejected = _map_chunks(split, job, scratch, partitions, combine, chunk_bytes)
        if split.end is None or split.end >= split.batch.size_bytes:  # the split read up to the file's end
            check_unchanged_since_found(split.batch)
    except BatchDataError as bad_content:
        where = "" if split.end is None else f" (in the lines from byte {split.start:,}, counted from there)"
        error = f"{bad_content}{where}"
        counters, rejected = MapCounters(), 0
        for spill in scratch.glob("*.parquet"):
            spill.unlink()
    except BaseException:
        shutil.rmtree(scratch, ignore_errors=True)
        raise
    output = MapOutput(split=split, directory=str(directory), counters=counters, error=error, rejected=rejected)
    _write_manifest(scratch, _map_manifest(output))
    return _publish(scratch, directory, output)


def _map_chunks(
    split: Split, job: MapReduceJob, scratch: Path, partitions: int, combine: bool, chunk_bytes: int
) -> tuple[MapCounters, int]:
    """Map and combine the split chunk by chunk, and spill its output through a buffer of `chunk_bytes`; write its
    rejects beside the spills. Returns the counters and how many runs were rejected."""
    counters = MapCounters()
    rejects = []
    buffer = _SpillBuffer(job, scratch, partitions, combine, chunk_bytes)
    chunks = read_line_chunks(
        split.batch.path,
        chunk_bytes,
        split.start,
        split.end,
        max_line_bytes=MAX_LINE_BYTES,
        cut_after=job.cut_long_lines_after,
    )
    for chunk in _read_ahead(chunks):
        if chunk.overlong.height:
            rejects.append(chunk.overlong)
        if combine and job.map_and_combine is not None:
            output, emitted = job.map_and_combine(chunk.lines, split)
        else:
            mapped = _in_schema(job.map_lines(chunk.lines, split), job)
            output, emitted = job.combine(mapped) if combine else mapped, mapped.height
        buffer.add(_in_schema(output, job))
        counters += MapCounters(
            records_read=chunk.lines_ended,
            bytes_read=chunk.bytes_read,
            map_output_records=emitted,
            combine_input_records=emitted if combine else 0,
        )
    buffer.spill()
    counters += MapCounters(
        combine_output_records=buffer.spilled_records if combine else 0,
        spilled_records=buffer.spilled_records,
        spilled_bytes=buffer.spilled_bytes,
    )
    if rejects:
        with writing("the map's rejects", scratch):
            pl.concat(rejects).write_parquet(scratch / REJECTS)
    return counters, sum(frame.height for frame in rejects)


def _read_ahead(chunks: Iterator[LineChunk]) -> Iterator[LineChunk]:
    """The chunks of `chunks`, in order, each read in a thread of its own while the one before it is mapped: cutting
    lines (Python, under the GIL, and gunzip) overlaps the map (Polars, which releases the GIL), so two maps keep
    both cores busy where they took turns. One chunk is read ahead: a map holds at most two chunks of lines."""
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="read-ahead") as reader:
        pending = reader.submit(next, chunks, None)
        try:
            while (chunk := pending.result()) is not None:
                pending = reader.submit(next, chunks, None)
                yield chunk
        finally:
            pending.cancel()
            wait([pending])
            chunks.close()  # the file, closed now rather than when collected, even when the map stopped early


class _SpillBuffer:
    """A map's output held in memory until it reaches `limit_bytes` (the chunk size, so memory stays bounded by it),
    then combined again when the combiner is on (a word met in several chunks becomes one row) and spilled: a split
    spills a few large sets of partition files, as Hadoop's map output buffer (io.sort.mb) makes it, instead of one
    set per chunk, and the reducers read fewer rows from fewer files."""

    def __init__(self, job: MapReduceJob, scratch: Path, partitions: int, combine: bool, limit_bytes: int):
        self.job = job
        self.scratch = scratch
        self.partitions = partitions
        self.combine = combine
        self.limit_bytes = limit_bytes
        self.frames: list[pl.DataFrame] = []
        self.held_bytes = 0
        self.spills = 0
        self.spilled_records = 0
        self.spilled_bytes = 0

    def add(self, frame: pl.DataFrame) -> None:
        self.frames.append(frame)
        self.held_bytes += frame.estimated_size()
        if self.held_bytes >= self.limit_bytes:
            self.spill()

    def spill(self) -> None:
        if not self.frames:
            return
        frame = pl.concat(self.frames) if len(self.frames) > 1 else self.frames[0]
        if self.combine and len(self.frames) > 1:
            frame = _in_schema(self.job.combine(frame), self.job)
        self.frames, self.held_bytes = [], 0
        self.spilled_bytes += _spill(frame, self.job.key, self.partitions, self.scratch, self.spills)
        self.spilled_records += frame.height
        self.spills += 1


def _in_schema(frame: pl.DataFrame, job: MapReduceJob) -> pl.DataFrame:
    """The map schema's columns, in its order and types: every spill of a job reads alike."""
    return frame.select(pl.col(name).cast(dtype, strict=True) for name, dtype in job.map_schema.items())


def _spill(frame: pl.DataFrame, key: str, partitions: int, scratch: Path, spill_number: int) -> int:
    """Write `frame` as one Parquet file per non-empty partition of its keys; return the bytes written."""
    partition = (pl.col(key).hash(seed=0) % partitions).alias("_partition")
    written = 0
    for (number,), rows in frame.with_columns(partition).partition_by("_partition", as_dict=True).items():
        path = scratch / f"part-{number:03d}-{spill_number:05d}.parquet"
        with writing(f"spill {path.name}", scratch):
            rows.drop("_partition").write_parquet(path, compression=SPILL_COMPRESSION)
        written += path.stat().st_size
    return written


def shuffle(outputs: list[MapOutput], job_dir: Path, partitions: int) -> Shuffle:
    """Group the map outputs by batch: a batch goes on to the reducers only if every one of its splits was mapped."""
    by_batch: dict[str, list[MapOutput]] = {}
    for output in outputs:
        by_batch.setdefault(output.split.batch.batch_id, []).append(output)
    complete, failed, directories, counters, rejects, rejected = [], [], [], {}, {}, {}
    for batch_id, batch_outputs in by_batch.items():
        batch = batch_outputs[0].split.batch
        errors = [output.error for output in batch_outputs if output.error]
        if errors:
            failed.append((batch, "; ".join(errors)))
            continue
        complete.append(batch)
        directories += [output.directory for output in batch_outputs]
        total = MapCounters()
        rejects[batch_id] = []
        for output in sorted(batch_outputs, key=lambda output: output.split.index):
            if output.rejected:  # its line numbers count from its split: the lines of the splits before it come first
                rejects[batch_id].append((output.rejects_path, total.records_read))
            total += output.counters
        counters[batch_id] = total
        rejected[batch_id] = sum(output.rejected for output in batch_outputs)
    return Shuffle(
        job_directory=str(job_dir),
        partitions=partitions,
        map_directories=sorted(directories),
        complete=complete,
        failed=failed,
        counters_by_batch=counters,
        rejects_by_batch=rejects,
        rejected_by_batch=rejected,
    )


def run_reducers(job: MapReduceJob, partition: int, shuffled: Shuffle) -> list[ReduceOutput]:
    """Run each of the job's reducers on one partition."""
    return [run_reduce(job, reducer, partition, shuffled) for reducer in job.reducers]


def run_reduce(job: MapReduceJob, reducer: str, partition: int, shuffled: Shuffle) -> ReduceOutput:
    """Reduce one partition: read only its spill files, of every split, and write the reducer's rows for it."""
    path = shuffled.reduce_directory / reducer / f"part-{partition:03d}.parquet"
    spills = sorted(
        str(spill)
        for directory in shuffled.map_directories
        for spill in Path(directory).glob(f"part-{partition:03d}-*.parquet")
    )
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        scratch = path.with_name(f"{path.name}.partial-{uuid.uuid4().hex[:8]}")
        # a partition no key fell in still gets its file, empty, so that every reducer's output has its columns
        spilled = pl.scan_parquet(spills) if spills else pl.LazyFrame(schema=job.map_schema)
        with writing(f"reduce output {path.name}", path.parent):
            job.reducers[reducer](spilled).sink_parquet(scratch, compression=SPILL_COMPRESSION)
        os.replace(scratch, path)
    input_records = pl.scan_parquet(spills).select(pl.len()).collect().item() if spills else 0
    output = pl.scan_parquet(path).select(pl.len(), pl.col(job.key).n_unique()).collect()
    return ReduceOutput(
        reducer=reducer,
        partition=partition,
        path=str(path),
        input_records=input_records,
        input_groups=output.item(0, 1),
        output_records=output.item(0, 0),
    )


def collect_reduce_outputs(reductions: Sequence, shuffled: Shuffle) -> tuple[Shuffle, list[ReduceOutput]]:
    """Wait for the reduce tasks (anything with `.result()`, one per partition) and return the shuffle with their
    outputs. If any failed after its retries (a full disk), none of the run's batches can be merged: the shuffle
    comes back with all of them failed, with that reason, so the ledger records each of them and the warehouse is
    left as it was. The outputs come back as copies: Prefect ties a task to the task runs whose results (or their
    items) it is given, and every event of the merge would carry one such tie per partition (EventTooLarge at
    tens of thousands of reducers)."""
    outputs, errors = [], []
    for reduction in reductions:
        try:
            outputs += [dataclasses.replace(output) for output in reduction.result()]
        except Exception as error:  # noqa: BLE001 - a failed reducer fails the run's batches, recorded, not a crash
            errors.append(f"{type(error).__name__}: {error}")
    if not errors:
        return shuffled, outputs
    reason = f"the reducers failed: {errors[0]}" + (f" (and {len(errors) - 1} more)" if len(errors) > 1 else "")
    failed = shuffled.failed + [(batch, reason) for batch in shuffled.complete]
    return dataclasses.replace(shuffled, complete=[], failed=failed, counters_by_batch={}, rejected_by_batch={}), []


def counters_of_run(shuffled: Shuffle, reduced: list[ReduceOutput]) -> dict[str, int]:
    """Hadoop's job counters for a run, by name: the maps' (of the batches that go on to the warehouse) and, per
    reducer, its output records; reduce input is the same for every reducer, since they read the same partitions."""
    first_reducer = min((output.reducer for output in reduced), default=None)
    counters = {
        "documents": len(shuffled.complete),
        "splits": len(shuffled.map_directories),
        "partitions": shuffled.partitions,
        **asdict(shuffled.counters),
        "reduce_input_records": sum(o.input_records for o in reduced if o.reducer == first_reducer),
        "reduce_input_groups": sum(o.input_groups for o in reduced if o.reducer == first_reducer),
    }
    for output in reduced:
        name = f"{output.reducer}_output_records"
        counters[name] = counters.get(name, 0) + output.output_records
    return counters


def remove_run_files(shuffled: Shuffle) -> None:
    """Delete a run's spills and reduce output once the warehouse holds what they computed."""
    for directory in shuffled.map_directories:
        shutil.rmtree(directory, ignore_errors=True)
    shutil.rmtree(shuffled.reduce_directory, ignore_errors=True)


def _map_manifest(output: MapOutput) -> dict:
    manifest = asdict(output)
    manifest["split"]["batch"]["path"] = str(output.split.batch.path)
    return manifest


def read_map_manifest(directory: Path) -> MapOutput | None:
    try:
        manifest = json.loads((directory / MANIFEST).read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return None
    split = manifest["split"]
    batch = Batch.from_json(split["batch"])
    return MapOutput(
        split=Split(**{**split, "batch": batch}),
        directory=manifest["directory"],
        counters=MapCounters(**manifest["counters"]),
        error=manifest["error"],
        rejected=manifest.get("rejected", 0),
    )


def _write_manifest(scratch: Path, manifest: dict) -> None:
    with writing("the map's manifest", scratch):
        (scratch / MANIFEST).write_text(json.dumps(manifest, indent=2))


def _publish(scratch: Path, directory: Path, output: MapOutput) -> MapOutput:
    """Swap the finished folder into place; where a concurrent attempt finished first, keep its folder."""
    if read_map_manifest(directory) is not None:
        shutil.rmtree(scratch)
        return read_map_manifest(directory)
    if directory.exists():
        shutil.rmtree(directory)
    os.replace(scratch, directory)
    return output
