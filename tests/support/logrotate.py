"""A logrotate simulator: a web server appends Combined Log Format lines to `access.log` in a folder while logrotate
moves it aside, as `man logrotate` describes:

- `create` (the default): rename access.log to access.log.1 (after shifting .N to .N+1) and create a new, empty
  access.log; `copytruncate`: copy access.log to access.log.1, then truncate it in place (atomically here: the
  lines written between the copy and the truncation, logrotate's known race, are not simulated);
- `dateext`: rotated files are named access.log-YYYYMMDD (a new day per rotation) instead of being numbered;
- `compress`: rotated files are gzipped (.gz); `delaycompress`: the newest rotated file stays plain until the next
  rotation (access.log.1 plain, access.log.2.gz onwards compressed);
- `rotate N`: rotated files beyond the N newest are deleted.

The server writes whole lines, but a line can be half written at any moment (its start is in the file, its end comes
later). Before a rotation the simulator finishes that line: a server that goes on writing into the renamed file until
it reopens its log (which `create` allows) is not simulated, because a rotated name counts as final, so a run in
between would load the line's start as a line of its own.

Every complete line written is recorded per stream (the content one writer appended to, from a new access.log or a
truncation to the next), in order, with what logs.requests must hold for it, or None when the line must be rejected.
The simulator also knows which file holds how many lines of which stream, without reading the files.
"""

import gzip
import hashlib
import os
import random
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path

from tasks.pipelines.access_logs.source import REQUEST_COLUMNS as ACCESS_LOG_COLUMNS

LIVE = "access.log"

MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
FIREFOX = "Mozilla/5.0 (X11; Linux x86_64; rv:140.0) Gecko/20100101 Firefox/140.0"
SAFARI = "Mozilla/5.0 (iPhone; CPU iPhone OS 18_0 like Mac OS X) AppleWebKit/605.1.15 Safari/604.1"
CRAWLER = 'Crawler/2.1 (+https://example.org/bot; \\"polite\\")'  # an escaped quote, as servers write it
# A visitor is a client address with a user agent: the same address with two agents is two visitors.
VISITORS = (
    ("192.0.2.10", FIREFOX),
    ("192.0.2.10", SAFARI),
    ("192.0.2.11", FIREFOX),
    ("198.51.100.7", "curl/8.5.0"),
    ("198.51.100.7", FIREFOX),
    ("203.0.113.5", SAFARI),
    ("2001:db8::1", FIREFOX),
    ("66.249.66.1", CRAWLER),
)
PATHS = (
    "/",
    "/index.html",
    "/products",
    "/products/42",
    "/products/7",
    "/cart",
    "/checkout",
    "/search",
    "/about",
    "/login",
    "/api/items",
    "/static/app.js",
    "/static/site.css",
    "/img/logo.png",
    "/favicon.ico",
    "/fonts/inter.woff2",
)
STATUSES = (200, 200, 200, 200, 200, 304, 301, 404, 403, 500, 503)
OFFSETS = ((0, "+0000"), (60, "+0100"), (-300, "-0500"), (330, "+0530"), (-210, "-0330"))
REFERERS = ("-", "-", "https://example.com/", "https://www.example.org/search?q=shoes&lang=en")


@dataclass(frozen=True)
class Request:
    """What logs.requests must hold for a well-formed line, as the line was generated."""

    client: str
    ident: str
    user: str
    ts_utc: datetime
    utc_offset_minutes: int
    method: str
    path: str
    query: str | None
    protocol: str
    status: int
    bytes: int
    referer: str
    user_agent: str

    def row(self, stream_id: str, line_number: int) -> tuple:
        """The line's stream and its logs.requests columns, in the order of `REQUEST_COLUMNS`."""
        hour = self.ts_utc.replace(minute=0, second=0, microsecond=0)
        fields = (self.client, self.ident, self.user, self.ts_utc, self.utc_offset_minutes, hour, self.ts_utc.date())
        request = (self.method, self.path, self.query, self.protocol, self.status, self.bytes, self.referer)
        return (stream_id, line_number, *fields, *request, self.user_agent)


# logs.requests columns a line determines, after its stream's id; line_number is the line's number in its stream.
REQUEST_COLUMNS = tuple(ACCESS_LOG_COLUMNS)  # names only: the values are computed here, independently


@dataclass(frozen=True)
class Line:
    """A line as written, and what the pipeline must make of it."""

    text: str  # without its newline
    request: Request | None  # None: the pipeline must reject the line


@dataclass
class Stream:
    """The complete lines one writer appended to one file, from its start, in order."""

    lines: list[Line] = field(default_factory=list)

    @property
    def id(self) -> str:
        """The stream's id as the specification defines it: a hash of its first line, newline included."""
        return hashlib.sha256(self.lines[0].text.encode() + b"\n").hexdigest()[:32]

    def content(self, lines: int | None = None) -> bytes:
        return "".join(line.text + "\n" for line in self.lines[:lines]).encode()


class Traffic:
    """Requests as a server logs them: a handful of visitors, a clock that mostly ticks by seconds or minutes and
    sometimes stands still (a visitor's two requests in the same second) or jumps past the session gap, local times
    in several UTC offsets, the odd line logged a few seconds late, and a few lines the pipeline must reject."""

    def __init__(self, rng: random.Random, start: datetime = datetime(2026, 10, 31, 18, 0)):
        self.rng = rng
        self.clock = start  # UTC; the default start crosses a midnight and a month's end within a few hundred lines
        self.visitor = rng.choice(VISITORS)

    def next_line(self) -> Line:
        rng = self.rng
        step = rng.choices(
            [0, rng.randint(1, 59), rng.randint(60, 600), rng.randint(31 * 60, 120 * 60)], [15, 50, 30, 5]
        )[0]
        self.clock += timedelta(seconds=step)
        if step > 0 or rng.random() < 0.3:  # a tick of zero is mostly the same visitor again, in the same second
            self.visitor = rng.choices(VISITORS, weights=range(len(VISITORS), 0, -1))[0]
        late = timedelta(seconds=rng.randint(1, 5)) if rng.random() < 0.05 else timedelta(0)
        request = self._request(self.clock - late)
        text = self._text(request)
        if rng.random() < 0.05:
            return Line(self._malformed(text), None)
        return Line(text, request)

    def _request(self, ts_utc: datetime) -> Request:
        rng = self.rng
        client, user_agent = self.visitor
        offset_minutes, _ = rng.choice(OFFSETS)
        query = rng.choices([None, "q=shoes", "page=2&sort=price", ""], [75, 10, 10, 5])[0]
        return Request(
            client=client,
            ident="-",
            user=rng.choices(["-", "alice"], [9, 1])[0],
            ts_utc=ts_utc,
            utc_offset_minutes=offset_minutes,
            method=rng.choices(["GET", "POST", "HEAD"], [85, 10, 5])[0],
            path=rng.choices(PATHS, weights=range(len(PATHS) + 4, 4, -1))[0],
            query=query,
            protocol=rng.choice(["HTTP/1.1", "HTTP/2.0"]),
            status=rng.choice(STATUSES),
            bytes=rng.choices([0, rng.randint(1, 80_000)], [5, 95])[0],
            referer=rng.choice(REFERERS),
            user_agent=user_agent,
        )

    def _text(self, request: Request) -> str:
        offset = dict(OFFSETS)[request.utc_offset_minutes]
        local = request.ts_utc + timedelta(minutes=request.utc_offset_minutes)
        stamp = f"{local.day:02d}/{MONTHS[local.month - 1]}/{local.year}:{local:%H:%M:%S} {offset}"
        target = request.path if request.query is None else f"{request.path}?{request.query}"
        size = "-" if request.bytes == 0 and self.rng.random() < 0.5 else str(request.bytes)
        return (
            f"{request.client} {request.ident} {request.user} [{stamp}] "
            f'"{request.method} {target} {request.protocol}" {request.status} {size} '
            f'"{request.referer}" "{request.user_agent}"'
        )

    def _malformed(self, text: str) -> str:
        """A line the pipeline must reject, made from a well-formed one."""
        rng = self.rng
        kind = rng.choice(["cut", "month", "status", "no such day", "trailing", "garbage", "empty"])
        if kind == "cut":  # a proper prefix of a line always lacks the user agent's closing quote or more
            return text[: rng.randint(1, len(text) - 1)]
        opening, closing = text.index("["), text.index("]") + 1
        before, stamp, after = text[:opening], text[opening:closing], text[closing:]
        if kind == "month":
            return before + stamp[:4] + "Okt" + stamp[7:] + after
        if kind == "no such day":
            return before + "[31/Nov/2026:10:00:00 +0000]" + after
        if kind == "status":  # the status is the first field after the request's closing quote
            request_end = after.index('" ') + 2
            return before + stamp + after[:request_end] + "999" + after[request_end + 3 :]
        if kind == "trailing":
            return text + " extra"
        if kind == "garbage":
            return f"\x16\x03\x01 garbage from a TLS client {rng.randint(0, 10**9)}"
        return ""


@dataclass(frozen=True)
class Rotation:
    """logrotate's settings for the log, in its words."""

    copytruncate: bool = False  # copy the log aside and truncate it; otherwise `create`: rename it, create a new one
    dateext: bool = False
    compress: bool = False
    delaycompress: bool = False
    rotate: int = 4

    def __str__(self) -> str:
        words = ["copytruncate" if self.copytruncate else "create"]
        words += [word for word in ("dateext", "compress", "delaycompress") if getattr(self, word)]
        return "-".join([*words, f"rotate{self.rotate}"])


class LogRotate:
    """A folder where a server writes access.log and logrotate rotates it under `rotation`."""

    def __init__(self, folder: Path, rotation: Rotation, rng: random.Random):
        self.folder = folder
        self.rotation = rotation
        self.rng = rng
        self.traffic = Traffic(rng)
        self.streams: list[Stream] = [Stream()]
        # file name -> (index of the stream it holds a prefix of, how many complete lines of it)
        self.held: dict[str, tuple[int, int]] = {LIVE: (0, 0)}
        self.pending: tuple[Line, int] | None = None  # the line being written, and how much of it is in the file
        self.rotations = 0
        self._next_day = date(2026, 11, 1)
        folder.mkdir(parents=True, exist_ok=True)
        (folder / LIVE).touch()

    # the server

    def write(self, count: int) -> None:
        """Append `count` whole lines (finishing a half-written line first)."""
        self.finish_line()
        with (self.folder / LIVE).open("a", encoding="utf-8") as log:
            for _ in range(count):
                line = self._next_line()
                log.write(line.text + "\n")
                self._append(line)

    def write_half_line(self) -> None:
        """Append the start of a line, leaving its end (and its newline) for later."""
        self.finish_line()
        line = self._next_line()
        while len(line.text) < 2:
            line = self._next_line()
        written = self.rng.randint(1, len(line.text) - 1)
        with (self.folder / LIVE).open("a", encoding="utf-8") as log:
            log.write(line.text[:written])
        self.pending = (line, written)

    def finish_line(self) -> None:
        """Write the rest of a half-written line, if there is one."""
        if self.pending is None:
            return
        line, written = self.pending
        with (self.folder / LIVE).open("a", encoding="utf-8") as log:
            log.write(line.text[written:] + "\n")
        self.pending = None
        self._append(line)

    def _next_line(self) -> Line:
        """The next line; a new stream's first line differs from every other stream's (else they would be one)."""
        stream_index, _ = self.held[LIVE]
        line = self.traffic.next_line()
        if self.streams[stream_index].lines:
            return line
        first_lines = {stream.lines[0].text for stream in self.streams if stream.lines}
        while line.text in first_lines or not line.text:
            line = self.traffic.next_line()
        return line

    def _append(self, line: Line) -> None:
        stream_index, lines = self.held[LIVE]
        self.streams[stream_index].lines.append(line)
        self.held[LIVE] = (stream_index, lines + 1)

    # logrotate

    def rotate(self, while_compressing: Callable[[], None] | None = None) -> None:
        """Rotate the log; `while_compressing()` is called when a compressed copy is written and its plain file not
        yet removed (gzip removes it once the copy is complete)."""
        self.finish_line()
        rotation = self.rotation
        self.rotations += 1
        dated = sorted(name for name in self.held if name.startswith(f"{LIVE}-"))
        if rotation.dateext:
            rotated = f"{LIVE}-{self._next_day:%Y%m%d}"
            self._next_day += timedelta(days=1)
            newest_before = dated[-1] if dated else None
        else:
            for number in range(rotation.rotate, 0, -1):
                for suffix in ("", ".gz"):
                    name = f"{LIVE}.{number}{suffix}"
                    if name not in self.held:
                        continue
                    if number == rotation.rotate:
                        self._delete(name)
                    else:
                        self._rename(name, f"{LIVE}.{number + 1}{suffix}")
            rotated = f"{LIVE}.1"
            newest_before = f"{LIVE}.2"
        if rotation.copytruncate:
            shutil.copyfile(self.folder / LIVE, self.folder / rotated)
            os.truncate(self.folder / LIVE, 0)
            self.held[rotated] = self.held[LIVE]
        else:
            self._rename(LIVE, rotated)
            (self.folder / LIVE).touch()
        self.streams.append(Stream())
        self.held[LIVE] = (len(self.streams) - 1, 0)
        if rotation.compress:
            to_compress = newest_before if rotation.delaycompress else rotated
            if to_compress is not None and to_compress in self.held:
                self._compress(to_compress, while_compressing)
        if rotation.dateext:
            dated = sorted(name for name in self.held if name.startswith(f"{LIVE}-"))
            for name in dated[: max(0, len(dated) - rotation.rotate)]:
                self._delete(name)

    def _rename(self, name: str, new_name: str) -> None:
        (self.folder / name).rename(self.folder / new_name)
        self.held[new_name] = self.held.pop(name)

    def _delete(self, name: str) -> None:
        (self.folder / name).unlink()
        del self.held[name]

    def _compress(self, name: str, while_compressing: Callable[[], None] | None) -> None:
        compressed = f"{name}.gz"
        (self.folder / compressed).write_bytes(gzip.compress((self.folder / name).read_bytes()))
        self.held[compressed] = self.held[name]
        if while_compressing is not None:
            while_compressing()
        self._delete(name)

    # the ground truth

    def lines_held(self) -> dict[int, int]:
        """For each stream some file holds, how many of its complete lines the folder holds now."""
        held: dict[int, int] = {}
        for stream_index, lines in self.held.values():
            if lines:
                held[stream_index] = max(held.get(stream_index, 0), lines)
        return held

    def write_streams(self, folder: Path, lines: dict[int, int]) -> dict[str, Stream]:
        """Write the first `lines[i]` lines of each stream i, in order, to folder/stream-NNNN.log (the same first line:
        the same stream id); return the streams by file name."""
        folder.mkdir(parents=True, exist_ok=True)
        written = {}
        for stream_index, count in sorted(lines.items()):
            name = f"stream-{stream_index:04d}.log"
            stream = Stream(self.streams[stream_index].lines[:count])
            (folder / name).write_bytes(stream.content())
            written[name] = stream
        return written
