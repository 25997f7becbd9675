"""A folder on a disk that fills up, for tests of what a pipeline does when writing runs out of space.

As root where mounting is allowed (a container with CAP_SYS_ADMIN, CI), the folder becomes a small tmpfs, so the real
writers (Polars' Parquet writer, DuckDB, Python's open) meet a real ENOSPC wherever they write in it. Elsewhere the
test names the writers to break, and they raise OSError(ENOSPC) as a full disk would: the test runs either way, and
`full.mounted` says which it got.

    with disk_full(tmp_path / "staging", size=256 * 1024, simulate=[(mapreduce_module, "_spill")]) as full:
        ...run, and see it fail...
        full.free()  # the disk has room again: unmounted (its files are gone) or the writers restored
        ...run again, and see it succeed...
"""

import errno
import shutil
import subprocess
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import pytest


def _mount(folder: Path, size: int) -> bool:
    try:
        done = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(folder)], capture_output=True, timeout=30
        )
    except (FileNotFoundError, subprocess.TimeoutExpired):
        return False
    return done.returncode == 0


def _unmount(folder: Path) -> None:
    subprocess.run(["umount", "--lazy", str(folder)], capture_output=True, timeout=30, check=True)


def no_space(*args, **kwargs):
    """A stand-in writer: the disk is full."""
    raise OSError(errno.ENOSPC, "No space left on device")


class FullDisk:
    def __init__(self, folder: Path, mounted: bool, monkeypatch: pytest.MonkeyPatch | None):
        self.folder = folder
        self.mounted = mounted
        self._monkeypatch = monkeypatch

    def free(self) -> None:
        """Give the folder room again: unmount the tmpfs (what was written to it goes), or restore the writers."""
        if self.mounted:
            _unmount(self.folder)
            self.mounted = False
        if self._monkeypatch is not None:
            self._monkeypatch.undo()
            self._monkeypatch = None


@contextmanager
def disk_full(folder: Path, size: int = 2 * 1024**2, simulate: Sequence[tuple[object, str]] = ()) -> Iterator[FullDisk]:
    """`folder` (created empty) on a tmpfs of `size` bytes, or, where mounting is not allowed, the `simulate`
    writers (object, attribute name) replaced by ones that raise ENOSPC. Unmounted or restored on exit."""
    folder.mkdir(parents=True, exist_ok=True)
    mounted = _mount(folder, size)
    patch = None
    if not mounted:
        if not simulate:
            pytest.skip("cannot mount a tmpfs here, and the test names no writer to simulate a full disk in")
        patch = pytest.MonkeyPatch()
        for target, name in simulate:
            patch.setattr(target, name, no_space)
    full = FullDisk(folder, mounted, patch)
    try:
        yield full
    finally:
        full.free()
        shutil.rmtree(folder, ignore_errors=True)
