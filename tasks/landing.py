"""Noticing files that land in a folder, so that each can start its pipeline through a Prefect event.

A file is announced once its size and modification time held still between two scans (so a file still being
copied in is not announced half-written), and once per content: a rewritten file is announced again.
"""

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

from tasks.batches import fingerprint_file, list_source_files

FILE_LANDED = "batchyard.file.landed"


@dataclass(frozen=True)
class LandedFile:
    """A file ready to load: what a `batchyard.file.landed` event carries."""

    pipeline: str
    folder: str
    name: str
    path: str
    size_bytes: int
    fingerprint: str


class LandingScanner:
    """Scans a landing folder and says which files are new or changed since it last looked."""

    def __init__(self, folder: Path, patterns: tuple[str, ...], pipeline: str):
        self.folder = folder
        self.patterns = patterns
        self.pipeline = pipeline
        self._last_seen: dict[Path, tuple[int, int]] = {}
        self._announced: dict[Path, str] = {}

    def scan(self) -> list[LandedFile]:
        """The files that are complete (unchanged since the previous scan) and not announced with this content."""
        seen = {}
        for path in list_source_files(self.folder, self.patterns):
            stat = path.stat()
            seen[path] = (stat.st_size, stat.st_mtime_ns)
        settled = [path for path, signature in seen.items() if self._last_seen.get(path) == signature]
        self._last_seen = seen
        landed = []
        for path in settled:
            fingerprint = fingerprint_file(path)
            if self._announced.get(path) == fingerprint:
                continue
            self._announced[path] = fingerprint
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
    scanner: LandingScanner, announce: Callable[[LandedFile], None], interval_seconds: float, scans: int | None
) -> int:
    """Scan every `interval_seconds` (`scans` times, or forever) and announce what landed; return how many."""
    announced = 0
    scan = 0
    while scans is None or scan < scans:
        if scan:
            time.sleep(interval_seconds)
        for landed in scanner.scan():
            announce(landed)
            announced += 1
        scan += 1
    return announced
