"""Batches: input units with a stable identity (pipeline, source, content fingerprint)."""

import fnmatch
import hashlib
import re
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from tasks.core.reading import BatchDataError


@dataclass(frozen=True)
class StreamRange:
    """Where a batch lies in an append-only stream (see tasks/core/streams.py): the bytes [start, end) of the stream's
    content (after decompression), beginning with its line `first_line`. `start_hash` and `end_hash` are hashes of the
    content before `start` and before `end`; `alongside` names the loaded batches that also begin at `start_hash` but
    hold other content, a fork discovery saw, so that the load can tell a fork from another run's load of the same
    bytes."""

    stream_id: str
    start: int
    end: int
    first_line: int
    start_hash: str
    end_hash: str
    alongside: tuple[str, ...] = ()


@dataclass(frozen=True)
class Batch:
    """One input file, or one range of an append-only stream read from a file (`range`). A whole file's `batch_id`
    is the same for the same content at the same source; a range's is the same for the same content wherever it
    was read from."""

    pipeline: str
    source: str
    path: Path
    fingerprint: str
    size_bytes: int
    range: StreamRange | None = None

    @property
    def batch_id(self) -> str:
        if self.range is not None:
            key = f"{self.pipeline}\nstream range\n{self.range.start_hash}\n{self.range.end_hash}"
        else:
            key = f"{self.pipeline}\n{self.source}\n{self.fingerprint}"
        return hashlib.sha256(key.encode()).hexdigest()[:20]

    @classmethod
    def from_json(cls, fields: dict) -> "Batch":
        """The batch `dataclasses.asdict` wrote out (with `path` as a string)."""
        stream_range = fields.get("range")
        if stream_range is not None:
            stream_range = StreamRange(**{**stream_range, "alongside": tuple(stream_range["alongside"])})
        return cls(**{**fields, "path": Path(fields["path"]), "range": stream_range})


def fingerprint_file(path: Path) -> str:
    """A content hash of the file's bytes as stored (compressed files are hashed compressed: cheaper, same identity).

    SHA-256 because CPUs hash it in hardware: twice as fast as BLAKE2 here.
    """
    with path.open("rb") as stream:
        return hashlib.file_digest(stream, "sha256").hexdigest()[:32]


def list_source_files(source: Path, patterns: tuple[str, ...]) -> list[Path]:
    """Files directly in `source` whose name matches any of `patterns` and none of the patterns written with a
    leading "!" (exclusions), in name order. A symbolic link counts only when it leads to a file inside `source`:
    discovery never reads outside its folder (a link to /etc/shadow is not an input)."""
    included = [pattern for pattern in patterns if not pattern.startswith("!")]
    excluded = [pattern[1:] for pattern in patterns if pattern.startswith("!")]
    found = {path for pattern in included for path in source.glob(pattern) if path.is_file()}
    return sorted(
        path
        for path in found
        if not any(fnmatch.fnmatchcase(path.name, skip) for skip in excluded) and stays_inside(path, source)
    )


def stays_inside(path: Path, source: Path) -> bool:
    """Whether `path`, its links followed, is inside `source` (its links followed too)."""
    return path.resolve().is_relative_to(source.resolve())


def make_batch(pipeline: str, path: Path) -> Batch:
    """The batch of a whole file. A file this process may not read gets a fingerprint of its size and time instead
    of its content, so that staging records it as failed with its reason and the others go on."""
    stat = path.stat()
    try:
        fingerprint = fingerprint_file(path)
    except PermissionError:
        fingerprint = f"unreadable-{stat.st_size}-{stat.st_mtime_ns}"
    return Batch(
        pipeline=pipeline, source=str(path.resolve()), path=path, fingerprint=fingerprint, size_bytes=stat.st_size
    )


def check_unchanged_since_found(batch: Batch) -> None:
    """A whole file must have kept the size it was found (and fingerprinted) at while it was read: the rows of a file
    written to meanwhile would come from content its fingerprint does not name. Such a file fails this run with
    its reason and loads in a later one, once it holds still."""
    try:
        size = batch.path.stat().st_size
    except FileNotFoundError:
        raise BatchDataError(f"{batch.path.name} was removed while it was read") from None
    if size != batch.size_bytes:
        raise BatchDataError(
            f"{batch.path.name} changed while it was read ({batch.size_bytes:,} bytes when found, {size:,} after): "
            "it loads in a later run, once it holds still"
        )


DAY_IN_NAME = re.compile(r"(?<!\d)(\d{4})[-_]?(\d{2})[-_]?(\d{2})(?!\d)")


def day_in_name(path: Path) -> date | None:
    """The first valid calendar day written in the file's name, if any."""
    for match in DAY_IN_NAME.finditer(path.name):
        try:
            return date(*(int(part) for part in match.groups()))
        except ValueError:
            continue
    return None
