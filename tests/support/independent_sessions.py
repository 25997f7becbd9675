"""Independent reference for logs.sessions and logs.sessions_daily, in plain Python: its own line parser (a regular
expression and `datetime`, no Polars, no SQL) and its own sessionizer (a loop over each visitor's requests).

Written from the specification: a visitor is a client address with a user agent (as written in the log); their
requests, in time order (ties in the order of their streams' ids, a stream's id being the first 32 hex digits of the
SHA-256 of its first line with its newline, then in line order), form one session while no gap between two consecutive
ones is longer than the gap. A page is a GET answered 200-399 whose path (the target before any `?`) does not end in
an asset extension; a session bounced when it has at most one page. Its id is the md5 of client, user agent and
start (ISO, microseconds) joined by newlines. sessions_daily counts sessions by their start's UTC day.
"""

import gzip
import hashlib
import re
from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path

MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
QUOTED = r'"((?:[^"\\]|\\.)*)"'
LINE = re.compile(
    r"([^ ]+) [^ ]+ [^ ]+ \[([0-9]{2})/([A-Za-z]{3})/([0-9]{4}):([0-9]{2}):([0-9]{2}):([0-9]{2}) ([+-])([0-9]{2})"
    rf'([0-9]{{2}})\] "([A-Z]+) ([^ "]+) HTTP/[0-9]\.[0-9]" ([0-9]{{3}}) ([0-9]+|-) {QUOTED} {QUOTED}'
)
ASSET_EXTENSIONS = (
    ".css", ".js", ".mjs", ".map", ".png", ".jpg", ".jpeg", ".gif", ".svg", ".ico", ".webp", ".avif", ".woff",
    ".woff2", ".ttf", ".otf", ".eot",
)  # fmt: skip
LARGEST_BIGINT = 2**63 - 1


@dataclass(frozen=True)
class Request:
    client: str
    user_agent: str
    ts_utc: datetime
    method: str
    path: str
    status: int
    order: tuple[str, int]  # stream id, line number: the tie-break between equal timestamps


def parse_line(line: str, order: tuple[str, int]) -> Request | None:
    """The request on a Combined Log Format line, or None when the line is rejected."""
    match = LINE.fullmatch(line)
    if match is None:
        return None
    client, day, month, year, hour, minute, second, sign, offset_hours, offset_minutes = match.groups()[:10]
    method, target, status, size, _referer, user_agent = match.groups()[10:]
    if month not in MONTHS or not 1900 <= int(year) <= 2199 or int(offset_hours) > 14 or int(offset_minutes) > 59:
        return None
    if not 100 <= int(status) <= 599 or size != "-" and int(size) > LARGEST_BIGINT:
        return None
    try:
        local = datetime(int(year), MONTHS.index(month) + 1, int(day), int(hour), int(minute), int(second))
    except ValueError:  # 31 Apr, hour 24, ...
        return None
    offset = timedelta(hours=int(offset_hours), minutes=int(offset_minutes)) * (1 if sign == "+" else -1)
    path = target.split("?", 1)[0]
    return Request(client, user_agent, local - offset, method, path, int(status), order)


def read_requests(source: Path) -> list[Request]:
    """Every accepted request of the *.log and *.log.gz files directly in `source`."""
    requests = []
    for path in sorted(source.iterdir()):
        if not path.name.endswith((".log", ".log.gz")):
            continue
        data = gzip.decompress(path.read_bytes()) if path.name.endswith(".gz") else path.read_bytes()
        for number, raw in enumerate(data.removesuffix(b"\n").split(b"\n"), start=1):
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError:
                continue
            if (request := parse_line(line, (stream_id(data), number))) is not None:
                requests.append(request)
    return requests


def stream_id(data: bytes) -> str:
    """A log stream's id: a hash of its first line, newline included."""
    return hashlib.sha256(data[: data.find(b"\n") + 1 or len(data)]).hexdigest()[:32]


def is_page(request: Request) -> bool:
    return (
        request.method == "GET" and 200 <= request.status <= 399 and not request.path.lower().endswith(ASSET_EXTENSIONS)
    )


def sessions(requests: list[Request], gap_minutes: int = 30) -> list[tuple]:
    """Rows of logs.sessions (without gap_minutes), sorted by client, user agent and start."""
    by_visitor: dict[tuple[str, str], list[Request]] = defaultdict(list)
    for request in requests:
        by_visitor[(request.client, request.user_agent)].append(request)
    gap = timedelta(minutes=gap_minutes)
    rows = []
    for (client, user_agent), visits in sorted(by_visitor.items()):
        visits.sort(key=lambda request: (request.ts_utc, request.order))
        current = [visits[0]]
        for request in visits[1:]:
            if request.ts_utc - current[-1].ts_utc > gap:
                rows.append(session_row(client, user_agent, current))
                current = []
            current.append(request)
        rows.append(session_row(client, user_agent, current))
    return rows


def session_row(client: str, user_agent: str, visits: list[Request]) -> tuple:
    start, end = visits[0].ts_utc, visits[-1].ts_utc
    pages = sum(is_page(request) for request in visits)
    session_id = hashlib.md5(f"{client}\n{user_agent}\n{start.isoformat(timespec='microseconds')}".encode()).hexdigest()
    return (session_id, client, user_agent, start, end, len(visits), pages, pages <= 1, visits[0].path, visits[-1].path)


def sessions_daily(session_rows: list[tuple]) -> list[tuple]:
    """Rows of logs.sessions_daily (day, sessions, visitors, avg_duration_s, bounce_rate, pages_per_session)."""
    by_day: dict[date, list[tuple]] = defaultdict(list)
    for row in session_rows:
        by_day[row[3].date()].append(row)
    return [
        (
            day,
            len(rows),
            len({(row[1], row[2]) for row in rows}),
            sum((row[4] - row[3]).total_seconds() for row in rows) / len(rows),
            sum(row[7] for row in rows) / len(rows),
            sum(row[6] for row in rows) / len(rows),
        )
        for day, rows in sorted(by_day.items())
    ]
