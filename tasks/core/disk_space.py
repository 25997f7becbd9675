"""Saying plainly that a disk is full: writers report it in their own words (Python as OSError ENOSPC, Polars as a
ComputeError that quotes the OS error or only a broken Parquet footer, DuckDB as an IOException)."""

import errno
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

# A write that fails with less room than this left on its disk failed for want of room, whatever the writer said.
NEARLY_FULL_BYTES = 1024 * 1024


class DiskFull(OSError):
    """Writing under a folder failed because its disk is full. Nothing half-written is kept; once there is room, a
    run does the work again."""


def out_of_space(error: BaseException, folder: Path) -> bool:
    """Whether `error`, raised while writing under `folder`, means that its disk is full."""
    if getattr(error, "errno", None) == errno.ENOSPC or "No space left on device" in str(error):
        return True
    return shutil.disk_usage(_nearest_existing(folder)).free < NEARLY_FULL_BYTES


@contextmanager
def writing(what: str, folder: Path, partial: Path | None = None) -> Iterator[None]:
    """Raise DiskFull, naming what was being written under `folder` and the room left, when the block fails for want
    of room; any other error as it is. `partial`, a folder of half-written output, is removed when the block fails."""
    try:
        yield
    except BaseException as error:
        full = isinstance(error, Exception) and not isinstance(error, DiskFull) and out_of_space(error, folder)
        free = shutil.disk_usage(_nearest_existing(folder)).free if full else 0
        if partial is not None:
            shutil.rmtree(partial, ignore_errors=True)
        if full:
            raise DiskFull(f"no space left on device while writing {what} in {folder} ({free:,} bytes free)") from error
        raise


def _nearest_existing(folder: Path) -> Path:
    return next(path for path in (folder, *folder.parents) if path.exists())
