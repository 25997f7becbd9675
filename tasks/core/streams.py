"""Append-only log streams: a log file is known by its content, not by its path.

A stream is the content one writer appends to, whatever the file holding it is called now (`access.log`,
`access.log.1`, `access.log.2.gz`) and wherever a copy of it lies. Its id is a hash of its head (its first line). The
ledger records each loaded range of a stream as byte offsets into its decompressed content with a hash of the
content before each end, so that a file whose content up to a recorded end hashes the same holds content that is
loaded, and only what follows it is new. Hence:

- a renamed, copied or compressed file whose content is loaded loads nothing;
- a file that grew loads only its new lines; a truncated file (copytruncate) begins a new stream;
- a file rewritten with other content continues from the last loaded point it shares (from its start if none), and
  the rows of what it replaced stay: a log is a history, and those requests happened;
- deleting a file deletes nothing from the warehouse.

A last line without its newline in a file that may still be written (not compressed, nor rotated and quiet for a
while) is not a line yet: it waits for the next run. Log collectors (Filebeat, Fluent Bit, Vector) identify files the same way; this is
the batch form of it.
"""

import gzip
import hashlib
import io
import re
import time
import zlib
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from tasks.core.batches import Batch, StreamRange
from tasks.core.errors import PermanentError

# A stream's head is its first line, or its first HEAD_LIMIT bytes when that line is longer.
HEAD_LIMIT = 64 << 10
_BLOCK = 1 << 20


def content_hash(hasher: "hashlib._Hash") -> str:
    return hasher.hexdigest()[:32]


EMPTY_PREFIX = content_hash(hashlib.sha256())

# Names a log has once logrotate moved it aside: access.log.1, access.log.2.gz, access.log-20261201(.gz),
# access.log-2026-12-01-1733040000 (dateext with dateformat); or any compressed file.
_ROTATED = re.compile(r"(\.[0-9]+|-[0-9]{8}[0-9]*|-[0-9]{4}-[0-9]{2}-[0-9]{2}[-0-9]*)(\.gz)?$")


class UnreadableContent(PermanentError):
    """The file's content cannot be read (a corrupt or truncated gzip stream)."""


# logrotate's `create` renames the live file, and the server goes on writing into it under its new name until it
# reopens its logs (postrotate, seconds later; what `delaycompress` is for): a rotated file's half-written last line
# is taken as it is only once the file has been quiet this long.
ROTATED_QUIET_SECONDS = 300


def is_final(path: Path) -> bool:
    """Whether nothing is written to the file any more: it is compressed, or it has a rotated name and has not
    changed for ROTATED_QUIET_SECONDS."""
    if path.name.endswith(".gz"):
        return True
    return bool(_ROTATED.search(path.name)) and time.time() - path.stat().st_mtime >= ROTATED_QUIET_SECONDS


def open_content(path: Path) -> io.BufferedIOBase:
    """The file's content: decompressed for .gz."""
    return gzip.open(path, "rb") if path.name.endswith(".gz") else path.open("rb")


@dataclass
class FileScan:
    """One pass over a file's content: its stream (None until it has a whole first line), its length, where its
    loadable content ends (after the last newline, or its length when the file is final), and the hash of the
    content before each offset that was asked for, and before those two ends."""

    path: Path
    final: bool
    stream_id: str | None = None
    length: int = 0
    loadable_end: int = 0
    hashes: dict[int, str] = field(default_factory=dict)
    signature: tuple[int, ...] = ()  # what the file looked like before it was read: see file_signature

    def as_json(self) -> dict:
        """What a later run may reuse while the file's signature holds: the hashes at its ends, not the others."""
        kept = {str(offset): self.hashes[offset] for offset in {0, self.loadable_end, self.length}}
        return {**self.__dict__, "path": str(self.path), "hashes": kept}

    @classmethod
    def from_json(cls, fields: dict) -> "FileScan":
        hashes = {int(offset): hash_ for offset, hash_ in fields["hashes"].items()}
        return cls(
            **{**fields, "path": Path(fields["path"]), "hashes": hashes, "signature": tuple(fields["signature"])}
        )


def file_signature(path: Path) -> tuple[int, ...]:
    """Size, modification time, inode, device and change time: what tells, without reading a file, that it may have
    changed. The change time catches a rewrite that kept the size and set the modification time back (touch -r,
    cp -p): no program can set it back."""
    stat = path.stat()
    return (stat.st_size, stat.st_mtime_ns, stat.st_ino, stat.st_dev, stat.st_ctime_ns)


def scan_file(path: Path, offsets_for: Callable[[str], Iterable[int]]) -> FileScan:
    """Read `path` once, hashing its content before each offset `offsets_for(stream_id)` names, before its
    loadable end and before its end. Memory stays at one block, whatever the file's size or its lines' length.

    Raises UnreadableContent for a corrupt gzip stream, OSError where the file cannot be read."""
    scan = FileScan(path=path, final=is_final(path), hashes={0: EMPTY_PREFIX}, signature=file_signature(path))
    hasher = hashlib.sha256()
    position = 0
    wanted: list[int] = []
    head = bytearray()  # the content until the stream is known: a line, at most HEAD_LIMIT bytes
    after_last_newline = None
    try:
        with open_content(path) as content:
            while block := content.read(_BLOCK):
                view = memoryview(block)
                if scan.stream_id is None and len(head) < HEAD_LIMIT:
                    head += view[: HEAD_LIMIT - len(head)]
                    scan.stream_id = _stream_of(head)
                    if scan.stream_id is not None:
                        wanted = sorted({offset for offset in offsets_for(scan.stream_id) if offset > 0}, reverse=True)
                        while wanted and wanted[-1] <= position:  # passed already, within the head
                            offset = wanted.pop()
                            scan.hashes[offset] = content_hash(hashlib.sha256(head[:offset]))
                # cut the block's hashing at each wanted offset and after its last newline, copying the state there
                cuts = []
                while wanted and wanted[-1] <= position + len(block):
                    cuts.append(wanted.pop() - position)
                newline = block.rfind(b"\n")
                if newline >= 0:
                    after_last_newline = position + newline + 1
                    cuts.append(newline + 1)
                done = 0
                for cut in sorted(set(cuts)):
                    hasher.update(view[done:cut])
                    done = cut
                    scan.hashes[position + cut] = content_hash(hasher)
                hasher.update(view[done:])
                position += len(block)
    except (EOFError, gzip.BadGzipFile, zlib.error) as error:
        raise UnreadableContent(f"the gzip stream is corrupt or truncated ({error})") from error
    scan.length = position
    scan.hashes[position] = content_hash(hasher)
    scan.loadable_end = position if scan.final else (after_last_newline or 0)
    if scan.stream_id is None and scan.final and position:
        scan.stream_id = scan.hashes[position]  # a final file shorter than a line: all of it is the head
        for offset in offsets_for(scan.stream_id):
            if offset <= position:
                scan.hashes[offset] = content_hash(hashlib.sha256(head[:offset]))
    if scan.stream_id is None:
        scan.loadable_end = 0
    return scan


def _stream_of(head: bytearray) -> str | None:
    """The stream id, once the content read so far holds the head: a hash of the first line (or of HEAD_LIMIT
    bytes)."""
    newline = head.find(b"\n")
    if newline >= 0:
        return content_hash(hashlib.sha256(head[: newline + 1]))
    if len(head) >= HEAD_LIMIT:
        return content_hash(hashlib.sha256(head[:HEAD_LIMIT]))
    return None


@dataclass(frozen=True)
class LoadedRange:
    """A loaded range of a stream, as the ledger records it."""

    batch_id: str
    stream_id: str
    start: int
    end: int
    first_line: int
    rows_in: int
    start_hash: str
    end_hash: str

    @property
    def next_line(self) -> int:
        return self.first_line + self.rows_in


@dataclass(frozen=True)
class StreamPlan:
    """What a run loads from a folder of logs: the new ranges (and, with reload, the loaded ranges the files hold
    again), how many files held nothing new, and the files whose last line is still being written."""

    batches: list[Batch]
    nothing_new: int
    half_written: list[str]


def plan_stream_ranges(
    pipeline: str, scans: list[FileScan], loaded: list[LoadedRange], reload: bool = False
) -> StreamPlan:
    """Decide the ranges to load from `scans` (made by `scan_files` against the same `loaded` ranges).

    A file continues its stream from the furthest loaded point its content shares; a file whose content another file
    of this run holds whole (a copy, or an older copy) adds nothing. With `reload`, the loaded ranges a file holds are
    planned again, with the same identity, so that their rows are replaced (after a parser fix)."""
    by_stream: dict[str, list[LoadedRange]] = defaultdict(list)
    for loaded_range in loaded:
        by_stream[loaded_range.stream_id].append(loaded_range)
    groups: dict[str, list[FileScan]] = defaultdict(list)
    half_written = []
    for scan in scans:
        if scan.loadable_end < scan.length:
            half_written.append(scan.path.name)
        if scan.stream_id is not None:
            groups[scan.stream_id].append(scan)
    batches: dict[str, Batch] = {}
    nothing_new = sum(scan.stream_id is None for scan in scans)
    for stream_id, files in groups.items():
        ranges = by_stream.get(stream_id, [])
        points = {(0, EMPTY_PREFIX): 1} | {(r.end, r.end_hash): r.next_line for r in ranges}
        covered: list[FileScan] = []  # files whose content is loaded, or will be once this run's ranges are
        new_starts: dict[str, list[str]] = defaultdict(list)  # start hash -> batch ids planned from it in this run
        for scan in sorted(files, key=lambda scan: (-scan.loadable_end, scan.path.name)):
            reloaded = False
            if reload:
                for held in ranges:
                    if scan.hashes.get(held.start) == held.start_hash and scan.hashes.get(held.end) == held.end_hash:
                        batch = _range_batch(pipeline, scan, stream_id, held.start, held.end, held.first_line, ())
                        reloaded = batches.setdefault(batch.batch_id, batch) is batch or reloaded
            end_hash = scan.hashes[scan.loadable_end]
            tip = max(offset for offset, hash_ in scan.hashes.items() if (offset, hash_) in points)
            in_another = any(other.hashes.get(scan.loadable_end) == end_hash for other in covered)
            covered.append(scan)
            if in_another or tip >= scan.loadable_end:
                nothing_new += not reloaded
                continue
            start_hash = scan.hashes[tip]
            forks = [r.batch_id for r in ranges if r.start_hash == start_hash] + new_starts[start_hash]
            batch = _range_batch(
                pipeline, scan, stream_id, tip, scan.loadable_end, points[(tip, start_hash)], tuple(sorted(forks))
            )
            for fork in new_starts[start_hash]:  # an earlier fork of this run learns of this one too
                batches[fork] = _with_alongside(batches[fork], batch.batch_id)
            new_starts[start_hash].append(batch.batch_id)
            batches[batch.batch_id] = batch
    return StreamPlan(batches=list(batches.values()), nothing_new=nothing_new, half_written=sorted(half_written))


def _range_batch(
    pipeline: str, scan: FileScan, stream_id: str, start: int, end: int, first_line: int, alongside: tuple[str, ...]
) -> Batch:
    stream_range = StreamRange(
        stream_id=stream_id,
        start=start,
        end=end,
        first_line=first_line,
        start_hash=scan.hashes[start],
        end_hash=scan.hashes[end],
        alongside=alongside,
    )
    return Batch(
        pipeline=pipeline,
        source=str(scan.path.resolve()),
        path=scan.path,
        fingerprint=stream_range.end_hash,
        size_bytes=scan.path.stat().st_size,
        range=stream_range,
    )


def _with_alongside(batch: Batch, batch_id: str) -> Batch:
    assert batch.range is not None
    alongside = tuple(sorted({*batch.range.alongside, batch_id}))
    return Batch(**{**batch.__dict__, "range": StreamRange(**{**batch.range.__dict__, "alongside": alongside})})


def offsets_to_check(loaded: list[LoadedRange]) -> Callable[[str], set[int]]:
    """For scan_file: the ends of a stream's loaded ranges, where a file of that stream may match them."""
    ends: dict[str, set[int]] = defaultdict(set)
    for loaded_range in loaded:
        ends[loaded_range.stream_id].add(loaded_range.end)
    return lambda stream_id: ends.get(stream_id, set())


def scan_files(
    paths: list[Path], loaded: list[LoadedRange], map_files=map, earlier: dict[str, FileScan] | None = None
) -> list[FileScan | Exception]:
    """Scan every file (with `map_files`, e.g. a thread pool's map); files of one stream are scanned again where
    needed, at each other's loadable ends, so that a copy is known for one. A file that cannot be read gives its
    exception in place of a scan.

    A file whose `earlier` scan (by path) still has the same signature, and whose content up to its loadable end was
    loaded, is not read again: an hourly run does not decompress every rotated log of the folder."""
    offsets = offsets_to_check(loaded)
    loaded_ends = {(loaded_range.stream_id, loaded_range.end, loaded_range.end_hash) for loaded_range in loaded}

    def reusable(path: Path) -> FileScan | None:
        scan = (earlier or {}).get(str(path))
        if scan is None or scan.stream_id is None:
            return None
        try:
            unchanged = scan.signature == file_signature(path)
        except OSError:
            return None
        loaded_whole = (scan.stream_id, scan.loadable_end, scan.hashes[scan.loadable_end]) in loaded_ends
        return scan if unchanged and loaded_whole and scan.final == is_final(path) else None

    def scan_or_error(path: Path, extra: frozenset[int] = frozenset()) -> FileScan | Exception:
        try:
            return scan_file(path, lambda stream_id: offsets(stream_id) | extra)
        except (UnreadableContent, OSError) as error:
            return error

    scans = list(map_files(lambda path: reusable(path) or scan_or_error(path), paths))
    together: dict[str, list[int]] = defaultdict(list)
    for index, scan in enumerate(scans):
        if isinstance(scan, FileScan) and scan.stream_id is not None:
            together[scan.stream_id].append(index)
    again = [indexes for indexes in together.values() if len(indexes) > 1]
    for indexes in again:
        ends = frozenset(scans[index].loadable_end for index in indexes)
        rescanned = list(map_files(scan_or_error, [paths[index] for index in indexes], [ends] * len(indexes)))
        for index, scan in zip(indexes, rescanned, strict=True):
            scans[index] = scan
    return scans
