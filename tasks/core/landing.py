"""Noticing files that land in a folder, so that each can start its pipeline through a Prefect event.

A file is announced once its size and modification time held still between two scans (so a file still being
copied in is not announced half-written), and once per content, known as the pipeline knows it (tasks/core/streams.py):
by its stream and the hash of its content up to its loadable end. So a renamed, copied or compressed file whose
content was announced is not announced again, a file that grew by whole lines is, and a last line still being
written is not content yet: its completion is. A file is read again only when its size, modification time, inode
or device changed since it was last read.
"""

import signal
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path

from prefect.logging import get_logger

from tasks.core.batches import fingerprint_file, list_source_files
from tasks.core.streams import FileScan, UnreadableContent, is_final, scan_file

FILE_LANDED = "batchyard.file.landed"

logger = get_logger("batchyard.landing")

# What tells, without reading it, that a file changed: size, modification time (ns), inode, device.
Signature = tuple[int, int, int, int]


@dataclass(frozen=True)
class Landing:
    """A pipeline's claim on a landing folder: the files matching `patterns` land for it, one event each (its
    on-arrival deployment triggers on `batchyard.file.landed` with `batchyard.pipeline` = `pipeline`). A pipeline
    declares it as LANDING in its source module; the landing watcher finds every such declaration."""

    pipeline: str
    patterns: tuple[str, ...]


@dataclass(frozen=True)
class LandedFile:
    """A file ready to load: what a `batchyard.file.landed` event carries. Its fingerprint is the hash of its
    content up to its loadable end (for a file whose content cannot be read, the hash of its bytes as stored)."""

    pipeline: str
    folder: str
    name: str
    path: str
    size_bytes: int
    fingerprint: str


@dataclass(frozen=True)
class Unreadable:
    """A file whose content cannot be read (a corrupt gzip stream): why, and the hash of its bytes as stored."""

    reason: str
    fingerprint: str


class LandingScanner:
    """Scans a landing folder and says which files hold complete content it has not announced yet."""

    def __init__(self, folder: Path, patterns: tuple[str, ...], pipeline: str):
        self.folder = folder
        self.patterns = patterns
        self.pipeline = pipeline
        self._last_seen: dict[Path, Signature] = {}
        self._read: dict[Path, tuple[Signature, FileScan | Unreadable]] = {}
        self._announced: set[tuple] = set()
        self._warned: dict[Path, Signature] = {}

    def scan(self) -> list[LandedFile]:
        """The files that are settled (unchanged since the previous scan) and hold content not announced yet."""
        seen = self._signatures()
        settled = [path for path, signature in seen.items() if self._last_seen.get(path) == signature]
        self._last_seen = seen
        self._read = {path: read for path, read in self._read.items() if path in seen}
        self._warned = {path: signature for path, signature in self._warned.items() if path in seen}
        landed = []
        for path in settled:
            content = self._content(path, seen[path])
            announcement = None if content is None else announced_as(path, seen[path], content)
            if announcement is None or announcement[0] in self._announced:
                continue
            identity, fingerprint = announcement
            self._announced.add(identity)
            landed.append(
                LandedFile(
                    pipeline=self.pipeline,
                    folder=str(self.folder.resolve()),
                    name=path.name,
                    path=str(path.resolve()),
                    size_bytes=seen[path][0],
                    fingerprint=fingerprint,
                )
            )
        return landed

    def _signatures(self) -> dict[Path, Signature]:
        seen = {}
        for path in list_source_files(self.folder, self.patterns):
            try:
                stat = path.stat()
            except FileNotFoundError:  # moved away since it was listed: its new name, if here, is seen next scan
                continue
            seen[path] = (stat.st_size, stat.st_mtime_ns, stat.st_ino, stat.st_dev)
        return seen

    def _content(self, path: Path, signature: Signature) -> FileScan | Unreadable | None:
        """What the file holds: read again only when its signature changed since it was last read; None when it
        cannot be opened now."""
        cached = self._read.get(path)
        # a rotated file turns final once quiet, its signature unchanged: its last line is content from then on
        if cached is not None and cached[0] == signature and not _turned_final(path, cached[1]):
            return cached[1]
        # A corrupt gzip is announced (once per path, size and modification time): waiting will not mend it, and
        # the run it starts records it in meta.batches as failed with the reason, where runs' failures are looked
        # for, as a scheduled run would; skipped, it would show only in this watcher's log. A file that cannot be
        # opened (its permissions not set yet, moved away mid-scan) may open at the next scan, and a run could not
        # read it either: it is logged once per signature and tried again.
        try:
            try:
                content: FileScan | Unreadable = scan_file(path, lambda stream_id: ())
            except UnreadableContent as error:
                content = Unreadable(reason=str(error), fingerprint=fingerprint_file(path))
                logger.warning("%s cannot be read: %s; announced, so that its run records it as failed", path, error)
        except FileNotFoundError:  # moved away since it was listed
            return None
        except OSError as error:
            if self._warned.get(path) != signature:
                logger.warning("%s cannot be read (%s); trying again at the next scan", path, error)
                self._warned[path] = signature
            return None
        self._read[path] = (signature, content)
        return content


def _turned_final(path: Path, content: "FileScan | Unreadable") -> bool:
    return isinstance(content, FileScan) and not content.final and is_final(path)


def announced_as(path: Path, signature: Signature, content: FileScan | Unreadable) -> tuple[tuple, str] | None:
    """What an announcement of the file is counted by, and its fingerprint; None while it holds no complete line."""
    if isinstance(content, Unreadable):
        size_bytes, mtime_ns = signature[:2]
        return ("unreadable", str(path), size_bytes, mtime_ns), content.fingerprint
    if content.stream_id is None or content.loadable_end == 0:
        return None
    end_hash = content.hashes[content.loadable_end]
    return ("content", content.stream_id, end_hash), end_hash


def landed_event(landed: LandedFile) -> dict:
    """The arguments of `prefect.events.emit_event` announcing `landed`; deployments trigger on its payload."""
    return {
        "event": FILE_LANDED,
        "resource": {
            "prefect.resource.id": f"batchyard.file.{landed.fingerprint}",
            "prefect.resource.name": landed.name,
            "batchyard.pipeline": landed.pipeline,
        },
        "payload": asdict(landed),
    }


def watch(
    scanners: Sequence[LandingScanner],
    announce: Callable[[LandedFile], None],
    interval_seconds: float,
    scans: int | None,
) -> int:
    """Scan with every scanner (one per pipeline landing in the folder) every `interval_seconds` (`scans` times, or
    forever, until Ctrl-C) and announce what landed; return how many. Ctrl-C is how a watcher is stopped, not a
    failure: it ends the watch as `scans` running out does, and the flow run Completed. (SIGTERM is Prefect's: a flow
    run it stops is Crashed, unless a worker or runner cancelled it, which makes it Cancelled.) A file landed but not
    announced when it came is announced by the next watcher, whose scanners start empty."""
    announced = 0
    scan = 0
    with _stop_requested_by_ctrl_c() as stop:
        while not stop.is_set() and (scans is None or scan < scans):
            if scan and stop.wait(interval_seconds):
                break
            for landed in (landed for scanner in scanners for landed in scanner.scan()):
                if stop.is_set():
                    break
                announce(landed)
                announced += 1
            scan += 1
    if stop.is_set():
        logger.info("stopped (Ctrl-C) after %s scan(s), %s file(s) announced", f"{scan:,}", f"{announced:,}")
    return announced


@contextmanager
def _stop_requested_by_ctrl_c() -> Iterator[threading.Event]:
    """An event Ctrl-C sets instead of interrupting, so that a stop falls between two announcements and the count
    says what was sent (an interrupt could land between an event sent and its count). A second Ctrl-C interrupts at
    once, for a watcher stuck on an unreachable server. Off the main thread, where no signal handler can be set,
    Ctrl-C reaches the main thread as usual."""
    stop = threading.Event()
    if threading.current_thread() is not threading.main_thread():
        yield stop
        return

    def request_stop(signum, frame):
        if stop.is_set():
            raise KeyboardInterrupt
        stop.set()

    previous = signal.signal(signal.SIGINT, request_stop)
    try:
        yield stop
    finally:
        signal.signal(signal.SIGINT, previous)
