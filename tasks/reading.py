"""Reading input files as chunks of lines, in bounded memory."""

import gzip
import io
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import polars as pl


class BatchDataError(Exception):
    """The batch's content cannot be read: retrying will not help, the file itself must change."""


@dataclass(frozen=True)
class LineChunk:
    """Consecutive lines of one file: `lines` has `line_number` (1-based) and `raw` (the text without its newline)."""

    lines: pl.DataFrame
    bytes_read: int
    stored_position: int  # how far into the file as stored (compressed, for .gz) reading has got: for progress


def read_line_chunks(
    path: Path,
    chunk_bytes: int,
    start: int = 0,
    end: int | None = None,
    first_line_number: int = 1,
    exact_range: bool = False,
) -> Iterator[LineChunk]:
    """Yield the lines of `path` in chunks of about `chunk_bytes`, cut at line ends.

    A line ends at "\\n"; a final "\\n" does not start another line. The text must be UTF-8.
    With a byte range (`start`, `end`, of the content: a compressed file is decompressed up to `start`, so splitting
    one costs a pass per range), only the lines that begin inside it are read, whole, as Hadoop's line reader does:
    ranges that tile a file read each of its lines exactly once. With `exact_range`, the bytes [start, end) are read
    as they are, whatever lines they cut (a range of a log stream, which ends where a load ended).
    Line numbers count from `first_line_number`.
    Raises BatchDataError for content that cannot be read (corrupt or truncated gzip, not UTF-8, no permission).
    """
    if chunk_bytes < 1:
        raise ValueError(f"chunk_bytes must be at least 1, not {chunk_bytes}")
    next_line_number = first_line_number
    carry = b""
    try:
        with _open_readable(path) as stored, _in_range(_decompressed(path, stored), start, end, exact_range) as stream:
            while True:
                block = stream.read(chunk_bytes)
                if not block:
                    break
                data = carry + block
                cut = data.rfind(b"\n")
                if cut < 0:
                    carry = data
                    continue
                carry = data[cut + 1 :]
                lines = _split_lines(data[: cut + 1], next_line_number)
                next_line_number += lines.height
                yield LineChunk(lines=lines, bytes_read=cut + 1, stored_position=stored.tell())
    except (EOFError, gzip.BadGzipFile, zlib.error) as error:
        raise BatchDataError(f"the gzip stream is corrupt or truncated ({error})") from error
    if carry:  # a last line without its newline
        lines = _split_lines(carry + b"\n", next_line_number)
        yield LineChunk(lines=lines, bytes_read=len(carry), stored_position=path.stat().st_size)


def _open_readable(path: Path) -> io.BufferedReader:
    """The file, open for reading; a file this process may not read fails as bad content would, alone and with its
    reason, rather than being retried (its permissions will not change between retries)."""
    try:
        return path.open("rb")
    except PermissionError as error:
        raise BatchDataError(f"{path.name} cannot be read: {error.strerror.lower()}") from error


def _decompressed(path: Path, stored: io.BufferedReader) -> io.BufferedIOBase:
    return gzip.GzipFile(fileobj=stored, mode="rb") if path.name.endswith(".gz") else stored


def _in_range(stream: io.BufferedIOBase, start: int, end: int | None, exact: bool) -> io.BufferedIOBase:
    if (start, end) == (0, None):
        return stream
    if exact:
        stream.seek(start)
        return io.BufferedReader(_ByteRange(stream, None if end is None else end - start))
    return _LineRange(stream, start, end)


class _ByteRange(io.RawIOBase):
    """The next `length` bytes of `stream` (all the rest when None)."""

    def __init__(self, stream: io.BufferedIOBase, length: int | None):
        self.stream = stream
        self.remaining = length

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        size = len(buffer) if self.remaining is None else min(len(buffer), self.remaining)
        block = self.stream.read(size)
        if self.remaining is not None:
            self.remaining -= len(block)
        buffer[: len(block)] = block
        return len(block)


class _LineRange(io.RawIOBase):
    """The bytes of the lines that begin in [start, end): from the first line start at or after `start` (a line
    starts at byte 0 or after a newline) to the newline ending the line that holds byte end - 1."""

    def __init__(self, stream: io.BufferedIOBase, start: int, end: int | None):
        self.stream = stream
        if start > 0:
            stream.seek(start - 1)
            if stream.read(1) != b"\n":
                stream.readline()  # the rest of a line that began before `start`: the range before owns it
        self.remaining = None if end is None else max(0, end - stream.tell())
        self.finishing_line = False

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        size = len(buffer)
        if self.remaining is None:
            block = self.stream.read(size)
        elif self.remaining > 0:
            block = self.stream.read(min(size, self.remaining))
            self.remaining -= len(block)
            self.finishing_line = self.remaining == 0 and not block.endswith(b"\n")
            if not block:
                self.remaining = 0
        elif self.finishing_line:  # the range's last line runs past its end: read on to that line's newline
            block = self.stream.readline(size)
            self.finishing_line = bool(block) and not block.endswith(b"\n")
        else:
            block = b""
        buffer[: len(block)] = block
        return len(block)


def _split_lines(text: bytes, first_line_number: int) -> pl.DataFrame:
    """Split newline-terminated `text` into one row per line, exactly: empty lines and CRs are kept as they are."""
    nul = text.find(b"\x00")
    if nul >= 0:
        line = first_line_number + text.count(b"\n", 0, nul)
        raise BatchDataError(f"line {line} holds a NUL byte: this is a binary file, not a log")
    line_count = text.count(b"\n")
    try:  # Polars checks the UTF-8 itself, several times faster than decoding to a Python str
        lines = _split_with_csv_reader(text, line_count)
        if lines is None:
            lines = pl.Series("raw", [text], dtype=pl.Binary).cast(pl.String).str.split("\n").explode()
            lines = lines.slice(0, line_count)
    except pl.exceptions.ComputeError as error:
        _raise_if_not_utf8(text, first_line_number)
        raise error
    frame = pl.DataFrame(lines).with_row_index("line_number", offset=first_line_number)
    return frame.with_columns(pl.col("line_number").cast(pl.Int64))


def _raise_if_not_utf8(text: bytes, first_line_number: int) -> None:
    try:
        text.decode("utf-8")
    except UnicodeDecodeError as error:
        line = first_line_number + text.count(b"\n", 0, error.start)
        raise BatchDataError(f"line {line} is not UTF-8 text (byte {text[error.start]:#04x})") from error


# The CSV reader splits lines ~5x faster than a string split, but it eats CRs, a leading BOM and splits on its
# separator; it is used only where none of those occur, and its line count is checked against the newlines.
_UNUSED_SEPARATOR = b"\x1f"


def _split_with_csv_reader(text: bytes, line_count: int) -> pl.Series | None:
    if b"\r" in text or _UNUSED_SEPARATOR in text or text.startswith(b"\xef\xbb\xbf"):
        return None
    frame = pl.read_csv(
        text,
        has_header=False,
        separator=_UNUSED_SEPARATOR.decode(),
        quote_char=None,
        comment_prefix=None,
        new_columns=["raw"],
        schema={"raw": pl.String},
    )
    if frame.height != line_count:
        return None
    return frame.get_column("raw").fill_null("")
