"""Deterministic generator of realistic web-server access logs (Combined Log Format).

Usage::

    python data/generate_access_logs.py --out data/sample_logs --size-mb 2 --seed 7 --days 3
    python data/generate_access_logs.py --out /tmp/logs --size-mb 1000 --seed 1 --gzip-share 0.5
    python data/generate_access_logs.py --list-kinds

The same arguments always give byte-identical files: every random draw comes from one
``random.Random(seed)``, nothing reads the clock, nothing iterates a ``set`` (string hashing is salted per
process), and gzip members are written with ``mtime=0``.

What the logs look like
-----------------------
* One file per day of a web server whose clock runs at UTC+02:00: ``access-2026-10-01.log`` holds
  the requests from 2026-09-30T22:00Z to 2026-10-01T22:00Z, so every file crosses midnight UTC and a UTC
  day's requests come from two files. ``--gzip-share`` of the files are written as ``.log.gz``.
* Lines are in time order, up to small local disorder (adjacent lines swapped within a minute).
* Visitors browse: most requests come from a client seen in the last few minutes, so sessions have several
  pages and assets, and some visits cross midnight and therefore files. With ``--mix bot-heavy`` most requests
  come from one-off addresses instead, so that most visitors make one request and a day holds millions of sessions.
* Traffic follows a daily curve (peak mid-afternoon UTC, trough at night), lighter weekends, noisy minutes
  and the odd crawler burst.
* Each client has its own UTC offset (``+0000``, ``+0530``, ``-0930``, ``+1400``...), protocol, user agent
  and usually ``-`` as ident and user; local time in a line is always UTC plus that offset.
* A few hundred paths with Zipf-skewed popularity; many targets carry a query string, including targets
  with several ``?``, an empty query (``/index.html?``) and an empty path (``?x=1``).
* User agents include escaped quotes and backslashes, ``\\x41``-style escapes and non-ASCII text.
* A few valid lines per file are dated 29/Feb/2028, a date that exists (a clock-skewed client, so
  these lines are far out of time order).
* ``--malformed-share`` of the lines break the line specification, each in one named way (see
  ``MALFORMED_KINDS`` or ``--list-kinds``). A file with at least as many malformed lines as there are
  kinds holds every kind at least once; smaller files take the kinds in turn so that the set of files
  still covers them all.

Output never contains a carriage return, a NUL or invalid UTF-8, and every file ends with a newline.
Sizes are in MiB of uncompressed text and approximate (line count is planned from the mean line length).
"""

from __future__ import annotations

import argparse
import gzip
import math
import re
import sys
import time
from collections import deque
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from itertools import chain
from pathlib import Path
from random import Random

from generator_options import share  # a sibling module: the generators run as python data/<name>.py

# Content of a quoted referer or user agent: a backslash escapes the next character.
QUOTED_CONTENT = re.compile(r'(?:[^"\\]|\\.)*')
MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
SECONDS = tuple(f"{s:02d}" for s in range(60))  # zero-padded, so sorting them sorts by time

# The server rotates its log at its own local midnight, two hours before midnight UTC.
SERVER_OFFSET = timedelta(hours=2)
# Lines are joined and written in blocks of this many lines (a few MB): big writes, little memory.
WRITE_BLOCK_LINES = 20_000
# Visits: this share of each minute's requests come from clients seen in the minutes before (the next page of a
# visit, its assets), so that sessions have several requests, as real ones do; the rest are new arrivals.
RETURNING_SHARE = 0.75
VISIT_WINDOW_MINUTES = 12
# Traffic mixes (--mix): "browsing" is the above; "bot-heavy" is a site hit mostly by scanners and crawlers from
# ever-new addresses, where most visitors make a single request, so that a day holds a million sessions or more.
# (share of requests from clients seen in the minutes before, share of the other requests from a one-off address)
MIXES = {"browsing": (RETURNING_SHARE, 0.0), "bot-heavy": (0.10, 0.85)}
# One valid 29/Feb/2028 line per this many lines (and at least one per file).
LEAP_DAY_EVERY = 20_000
LEAP_DAY = "leap_day_2028"  # marks those lines in the plan of a file, next to the malformed kinds

# (offset, share of clients); includes half- and quarter-hour zones and both extremes.
OFFSETS = (
    ("+0000", 30),
    ("+0200", 22),
    ("-0500", 14),
    ("+0100", 8),
    ("-0800", 6),
    ("+0530", 5),
    ("+0900", 4),
    ("-0300", 3),
    ("+0545", 1.5),
    ("-0930", 1.5),
    ("+1400", 1.5),
    ("+1245", 1.5),
    ("-1000", 1),
    ("+1030", 1),
)
PROTOCOLS = (("HTTP/1.1", 60), ("HTTP/2.0", 35), ("HTTP/1.0", 5))

# (user agent as written in the log, i.e. already escaped; weight; is a crawler). Inside the quotes a
# backslash escapes the next character, so `\"`, `\\` and `\x41` are all legal and appear here.
USER_AGENTS = (
    (
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/131.0.0.0 Safari/537.36",
        30,
        False,
    ),
    (
        "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_6_1) AppleWebKit/605.1.15 (KHTML, like Gecko) "
        "Version/18.1 Safari/605.1.15",
        14,
        False,
    ),
    (
        "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
        "Version/18.1 Mobile/15E148 Safari/604.1",
        14,
        False,
    ),
    (
        "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/131.0.6778.39 Mobile Safari/537.36",
        12,
        False,
    ),
    ("Mozilla/5.0 (X11; Linux x86_64; rv:132.0) Gecko/20100101 Firefox/132.0", 6, False),
    (
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/130.0.0.0 Safari/537.36 Edg/130.0.2849.68",
        6,
        False,
    ),
    ("Mozilla/5.0 (Linux; ü)", 1, False),
    (
        "Mozilla/5.0 (Linux; Android 13; 小米 12 Pro) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/120.0.0.0 Mobile Safari/537.36",
        1,
        False,
    ),
    ("Приложение-Магазин/3.2 (Android 12; ru_RU)", 0.5, False),
    (r"Mozilla/5.0 (Windows NT 10.0; Win64; x64) \"Grüße\" Edition", 0.3, False),
    ("Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)", 4, True),
    ("Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)", 2, True),
    ("Mozilla/5.0 (compatible; AhrefsBot/7.0; +http://ahrefs.com/robot/)", 1, True),
    ("curl/8.5.0", 2, False),
    ("python-requests/2.32.3", 1.5, False),
    ("Go-http-client/2.0", 1, False),
    ("Wget/1.21.4", 0.5, False),
    ("PostmanRuntime/7.42.0", 0.5, False),
    ("kube-probe/1.31", 1, False),
    ("-", 1, False),
    (r"Mozilla/5.0 (compatible; \"QuoteBot\"/1.0; +https://bot.example.org/\"about\")", 0.3, True),
    (r"Scanner/1.0 C:\\Program Files\\scan.exe", 0.3, False),
    (r"Tool\\", 0.2, False),  # ends in an escaped backslash right before the closing quote
    (r"Fuzz\x41\x42\x43/0.1 (\x2f\x2e\x2e)", 0.2, False),
    (r"Mozilla/5.0 (Windows NT 6.1) \"legacy\" Trident/7.0", 0.2, False),
)
USER_NAMES = (
    "alice",
    "bob",
    "carol",
    "dave",
    "erin",
    "j.smith",
    "ops-admin",
    "svc_backup",
    "mallory",
    "renée",
    "bob@example.com",
)
REFERERS = (
    ("-", 55),
    ("https://shop.example.com/", 12),
    ("https://shop.example.com/products/123", 4),
    ("https://shop.example.com/cart", 3),
    ("https://shop.example.com/search?q=shoes&page=2", 3),
    ("https://www.google.com/", 8),
    ("https://www.google.com/search?q=example+shop", 2),
    ("https://www.bing.com/search?q=red%20shoes&form=QBLH", 1.5),
    ("https://duckduckgo.com/", 1.5),
    ("https://t.co/xYz12Ab", 1),
    ("android-app://com.google.android.gm/", 1),
    (r"https://news.example.org/article?id=77&ref=\"share\"", 0.3),
    ("https://münchen.example.de/läden", 0.3),
    ("http://localhost:3000/", 0.5),
)

# Per kind of path: the methods it receives and the statuses it answers, as (value, weight).
METHODS_BY_CLASS = {
    "page": (("GET", 94), ("HEAD", 3), ("POST", 2), ("OPTIONS", 1)),
    "static": (("GET", 96), ("HEAD", 4)),
    "api": (("GET", 64), ("POST", 15), ("PUT", 6), ("PATCH", 4), ("DELETE", 4), ("OPTIONS", 6), ("HEAD", 1)),
    "scanner": (("GET", 68), ("POST", 25), ("HEAD", 4), ("PROPFIND", 3)),
    "redirect": (("GET", 97), ("HEAD", 3)),
}
STATUSES_BY_CLASS = {
    "page": ((200, 86), (304, 4), (301, 2), (302, 2), (404, 3), (403, 0.5), (499, 0.5), (500, 1), (503, 1)),
    "static": ((200, 70), (304, 22), (206, 2), (404, 4), (403, 0.5), (500, 0.3), (503, 0.2)),
    "api": (
        (200, 78),
        (201, 5),
        (204, 3),
        (400, 3),
        (401, 2),
        (404, 2),
        (429, 1.5),
        (500, 1.5),
        (502, 0.5),
        (503, 1),
        (504, 0.5),
    ),
    "scanner": ((404, 85), (403, 10), (301, 3), (400, 2)),
    "redirect": ((301, 80), (302, 10), (404, 10)),
}
# Table sizes (powers of two) so one getrandbits() call picks both a method and a response.
METHOD_SLOTS_BITS = 6
RESPONSE_SLOTS_BITS = 7


# --------------------------------------------------------------------------------------------- pools


def weighted(rng: Random, pairs):
    """Draw one value from (value, weight) pairs."""
    values, weights = zip(*pairs, strict=True)
    return rng.choices(values, weights=weights)[0]


def cumulative(weights) -> list[float]:
    total, out = 0.0, []
    for w in weights:
        total += w
        out.append(total)
    return out


def zipf_weights(rng: Random, n: int, exponent: float, jitter: float = 0.0) -> list[float]:
    """Zipf weights 1/rank**exponent for n items listed from most to least popular.

    jitter > 0 loosens that order: each item's rank is drawn between its position and (1 + jitter)
    times it, so neighbours trade places but the head stays the head.
    """
    order = sorted(range(n), key=lambda i: (i + 1) * rng.uniform(1, 1 + jitter))
    weights = [0.0] * n
    for rank, item in enumerate(order, start=1):
        weights[item] = 1.0 / rank**exponent
    return weights


def response_size(rng: Random, cls: str, base: int, status: int) -> str:
    """Bytes field for a response: '-' or digits, sized like the resource and the status."""
    if status in (204, 304):
        return rng.choice(("-", "0"))
    if status in (301, 302):
        return str(rng.choice((162, 169, 178)))
    if status >= 400:
        return rng.choice(("-", "153", "548", "1234", str(rng.randint(100, 2000))))
    if status == 206:
        return str(rng.randint(1, base))
    # Static files have one size; pages and API answers vary from request to request.
    return str(base) if cls == "static" else str(max(0, int(base * rng.uniform(0.7, 1.3))))


def build_targets(rng: Random):
    """Return [(path, class, [(target, weight), ...])] for a few hundred paths.

    The target is what the request line carries: the path, then optionally '?' and a query.
    """
    page_queries = (
        ("", 70),
        ("?utm_source=newsletter&utm_medium=email", 5),
        ("?ref=home", 4),
        ("?lang=de", 2),
        ("?", 1),
    )
    paths: list[tuple[str, str, list[tuple[str, float]]]] = []

    def add(path: str, cls: str, queries=(("", 1),)):
        paths.append((path, cls, [(path + q, w) for q, w in queries]))

    # Roughly from most to least requested; Pools turns the order into Zipf weights.
    add("/", "page", page_queries)
    for f in ("app.js", "app.css", "vendor.js"):
        add(f"/static/{f}", "static", (("", 10), ("?v=3f2a1c", 6), ("?v=9b8e07", 2)))
    add("/favicon.ico", "static")
    add(
        "/api/v1/items",
        "api",
        tuple((f"?page={p}&sort={s}", 1.0 / p) for p in range(1, 21) for s in ("asc", "desc"))
        + (("", 3), ("?page=1&per_page=50", 1)),
    )
    add(
        "/search",
        "page",
        (
            ("?q=shoes", 20),
            ("?q=red+shoes&page=2", 8),
            ("?q=caf%C3%A9", 3),
            ("?q=what?&lang=en", 2),
            ("?q=", 2),
            ("?q=a?b?c", 1),
        ),
    )
    add("/index.html", "page", page_queries)
    for p in ("/api/v1/users/me", "/api/v1/cart", "/healthz", "/api/v1/session", "/api/v1/events"):
        add(p, "api", (("", 10), ("?fields=id,name", 1)))
    for p in ("/cart", "/account", "/checkout"):
        add(p, "page", page_queries)
    add("/login", "page", (("", 20), ("?next=%2Faccount%3Ftab%3Dorders", 3)))
    for f in ("fonts/inter.woff2", "img/logo.png", "img/hero.webp", "favicon.svg"):
        add(f"/static/{f}", "static", (("", 10), ("?v=3f2a1c", 6), ("?v=9b8e07", 2)))
    for name in (
        "shoes",
        "shirts",
        "sale",
        "new",
        "bags",
        "hats",
        "jackets",
        "kids",
        "socks",
        "gifts",
        "outdoor",
        "sport",
    ):
        add(f"/category/{name}", "page", (("", 10), ("?page=2", 3), ("?sort=price&order=asc", 2)))
    add("/robots.txt", "static")
    add("", "page", (("?x=1", 3), ("?utm_source=qr&utm_campaign=poster", 2)))  # empty path
    add("/api/v1/search", "api", (("?q=shoes&limit=20", 5), ("?q=hat&limit=20&offset=20", 2)))
    for n in rng.sample(range(100, 10_000), 140):
        add(
            f"/products/{n}",
            "page",
            (
                ("", 60),
                ("?color=red", 8),
                ("?ref=search&pos=3", 6),
                ("?variant=2", 4),
                ("?color=blue&size=M", 3),
            ),
        )
    for i in range(60):
        add(f"/static/img/p{i}.jpg", "static")
    for n in rng.sample(range(1, 5000), 30):
        add(f"/api/v1/items/{n}", "api")
    for p in (
        "/wp-login.php",
        "/.env",
        "/xmlrpc.php",
        "/admin/config.php",
        "/phpmyadmin/",
        "/.git/config",
        "/cgi-bin/test.cgi",
        "/vendor/phpunit/phpunit/src/Util/PHP/eval-stdin.php",
    ):
        add(p, "scanner")
    add("/index.php", "scanner", ((r"?s=/Index/\think\app/invokefunction&function=phpinfo", 1),))
    add("/redirect", "redirect", (("?next=/cart?step=2", 3), ("?next=%2Faccount", 2)))
    for p in ("/old-shop", "/promo", "/store", "/home.html"):
        add(p, "redirect")
    for p in ("/about", "/contact", "/faq", "/shipping", "/returns", "/privacy", "/terms", "/blog"):
        add(p, "page", page_queries)
    for i in range(30):
        add(f"/blog/{2023 + i % 4}/post-{i + 1}", "page", page_queries)
    for p in ("/api/v1/cart/items", "/api/v2/orders", "/metrics"):
        add(p, "api", (("", 10), ("?fields=id,name", 1)))
    add("/sitemap.xml", "static")
    return paths


def build_client_rows(rng: Random, count: int):
    """Client pool: rows of (head, offset index, offset suffix, protocol part, user-agent tail, info).

    The head is 'client ident user [' and the tails are the pieces of the line that depend only on the
    client, so writing a line is one f-string. info keeps the raw fields for building malformed lines.
    """
    offsets, offset_weights = zip(*OFFSETS, strict=True)
    protocols, protocol_weights = zip(*PROTOCOLS, strict=True)
    ua_pairs = [(ua, w) for ua, w, _ in USER_AGENTS]
    bot_agents = [(ua, w) for ua, w, is_bot in USER_AGENTS if is_bot]
    seen: dict[str, None] = {}  # a dict, not a set, so iteration order never depends on hashing
    rows = []
    while len(rows) < count:
        draw = rng.random()
        is_bot = False
        if draw < 0.74:
            client = (
                f"{rng.choice((5, 23, 31, 46, 62, 78, 85, 91, 103, 141, 176, 188, 193, 203, 212))}."
                f"{rng.randrange(256)}.{rng.randrange(256)}.{rng.randrange(1, 255)}"
            )
        elif draw < 0.90:
            client = rng.choice(
                (
                    f"2001:db8:{rng.randrange(0x10000):x}::{rng.randrange(1, 0x10000):x}",
                    f"2a02:{rng.randrange(0x10000):x}:{rng.randrange(0x10000):x}:"
                    f"{rng.randrange(0x10000):x}::{rng.randrange(0x10000):x}",
                    f"2600:{rng.randrange(0x10000):x}:{rng.randrange(0x10000):x}:{rng.randrange(0x10000):x}"
                    f":{rng.randrange(0x10000):x}:{rng.randrange(0x10000):x}:{rng.randrange(0x10000):x}"
                    f":{rng.randrange(0x10000):x}",
                )
            )
        elif draw < 0.95:
            a, b = rng.randrange(256), rng.randrange(256)
            client = rng.choice((f"crawl-66-249-{a}-{b}.googlebot.com", f"msnbot-157-55-{a}-{b}.search.msn.com"))
            is_bot = True
        else:
            client = rng.choice(
                (
                    f"host-{rng.randrange(10_000)}.isp.example.net",
                    f"proxy{rng.randrange(40)}.corp.example.com",
                    "localhost",
                    "::1",
                )
            )
        if client in seen:
            continue
        seen[client] = None
        ident = "-" if rng.random() < 0.995 else "identd"
        user = "-" if rng.random() < 0.95 else rng.choice(USER_NAMES)
        offset_index = rng.choices(range(len(offsets)), weights=offset_weights)[0]
        protocol = rng.choices(protocols, weights=protocol_weights)[0]
        ua = weighted(rng, bot_agents if is_bot else ua_pairs)
        info = (client, ident, user, offset_index, protocol, ua)
        rows.append(
            (
                f"{client} {ident} {user} [",
                offset_index,
                f' {offsets[offset_index]}] "',
                f' {protocol}" ',
                f'" "{ua}"\n',
                info,
            )
        )
    return rows


def slot_table(rng: Random, pairs, bits: int) -> list:
    """A table of 2**bits values drawn from (value, weight) pairs, to index with random bits."""
    values, weights = zip(*pairs, strict=True)
    return rng.choices(values, weights=weights, k=1 << bits)


class Pools:
    """Everything a line is drawn from, built once from the seed."""

    def __init__(self, rng: Random):
        self.offsets = [o for o, _ in OFFSETS]
        # Offset in minutes east of UTC, to turn UTC into local time.
        self.offset_minutes = [(-1 if o[0] == "-" else 1) * (int(o[1:3]) * 60 + int(o[3:])) for o in self.offsets]

        self.client_rows = build_client_rows(rng, 20_000)
        self.client_cum = cumulative(zipf_weights(rng, len(self.client_rows), 0.9))

        method_tables = {cls: slot_table(rng, pairs, METHOD_SLOTS_BITS) for cls, pairs in METHODS_BY_CLASS.items()}
        self.target_rows = []  # (target, method table, response table)
        target_weights = []
        paths = build_targets(rng)
        for (_, cls, targets), path_weight in zip(paths, zipf_weights(rng, len(paths), 1.1, jitter=1.0), strict=True):
            base = {"static": rng.randint(800, 400_000), "api": rng.randint(60, 20_000)}.get(
                cls, rng.randint(3_000, 60_000)
            )
            responses = [
                f"{status} {response_size(rng, cls, base, status)}"
                for status in slot_table(rng, STATUSES_BY_CLASS[cls], RESPONSE_SLOTS_BITS)
            ]
            total = sum(w for _, w in targets)
            for target, w in targets:
                self.target_rows.append((target, method_tables[cls], responses))
                target_weights.append(path_weight * w / total)
        self.target_cum = cumulative(target_weights)

        self.referers = [r for r, _ in REFERERS]
        self.referer_cum = cumulative(w for _, w in REFERERS)

        # The escaped pools are hand-written: make sure each is a legal quoted field, so a typo cannot
        # silently turn well-formed lines into malformed ones.
        for text in [ua for ua, _, _ in USER_AGENTS] + self.referers:
            if not QUOTED_CONTENT.fullmatch(text):
                raise ValueError(f"not a valid escaped field: {text!r}")

    def mean_line_bytes(self) -> float:
        """Expected UTF-8 length of a well-formed line, to turn a size into a line count."""

        def mean(rows, cum, size):
            weights = [b - a for a, b in zip([0.0, *cum[:-1]], cum, strict=True)]
            return sum(w * size(r) for r, w in zip(rows, weights, strict=True)) / cum[-1]

        def utf8(s: str) -> int:
            return len(s.encode())

        client = mean(self.client_rows, self.client_cum, lambda r: sum(utf8(p) for p in r[0:1] + r[2:5]))
        request = mean(
            self.target_rows,
            self.target_cum,
            lambda r: utf8(r[0]) + 1 + sum(map(len, r[1])) / len(r[1]) + sum(map(len, r[2])) / len(r[2]),
        )
        referer = mean(self.referers, self.referer_cum, utf8)
        stamp = len("01/Oct/2026:13:55:") + 2
        return client + request + referer + stamp + len(' "')


# ------------------------------------------------------------------------------------ malformed lines
#
# Every malformed kind is a function (rng, parts) -> line, where parts holds the fields of an otherwise
# well-formed line as strings (see LineParts). Each breaks the spec in exactly the way its docstring says.


class LineParts(dict):
    """Fields of one line as they appear in the log (referer and user agent already escaped)."""

    def fields(self) -> list[str]:
        p = self
        stamp = f"[{p['day']}/{p['mon']}/{p['year']}:{p['hh']}:{p['mm']}:{p['ss']} {p['offset']}]"
        return [
            p["client"],
            p["ident"],
            p["user"],
            stamp,
            f'"{p["method"]} {p["target"]} {p["protocol"]}"',
            p["status"],
            p["bytes"],
            f'"{p["referer"]}"',
            f'"{p["ua"]}"',
        ]

    def render(self) -> str:
        return " ".join(self.fields())


MalformedKind = Callable[[Random, LineParts], str]


def _with_fields(doc: str, **changes: str) -> MalformedKind:
    """A kind that replaces some fields of an otherwise valid line."""

    def kind(rng: Random, parts: LineParts) -> str:
        parts.update(changes)
        return parts.render()

    kind.__doc__ = doc
    return kind


def _empty_line(rng: Random, parts: LineParts) -> str:
    """an empty line"""
    return ""


def _dash_request(rng: Random, parts: LineParts) -> str:
    """request logged as "-" (what nginx writes for a connection closed before a request)"""
    fields = parts.fields()
    fields[4:7] = ['"-"', rng.choice(("400", "408")), "0"]
    return " ".join(fields)


def _missing_brackets(rng: Random, parts: LineParts) -> str:
    """timestamp without its [ ]"""
    fields = parts.fields()
    fields[3] = fields[3][1:-1]
    return " ".join(fields)


def _target_with_space(rng: Random, parts: LineParts) -> str:
    """target containing a space"""
    parts["target"] = rng.choice(("/search?q=red shoes", "/products/12 3", "/my documents/cv.pdf"))
    return parts.render()


def _target_with_quote(rng: Random, parts: LineParts) -> str:
    """target containing a double quote"""
    parts["target"] = rng.choice(('/search?q="shoes"', '/a"b', '/api/v1/items?name="x'))
    return parts.render()


def _unterminated_user_agent(rng: Random, parts: LineParts) -> str:
    """user agent whose closing quote is missing or escaped"""
    line = parts.render()[:-1]  # drop the closing quote
    return line + '\\"' if rng.random() < 0.5 else line


def _trailing_text(rng: Random, parts: LineParts) -> str:
    """text after the user agent (an extra field such as X-Forwarded-For or a duration)"""
    return parts.render() + rng.choice((' "-"', " 0.123", ' "10.0.0.1"', " extra"))


def _double_space(rng: Random, parts: LineParts) -> str:
    """two spaces between two fields"""
    fields = parts.fields()
    gap = rng.randrange(1, len(fields))
    return " ".join(fields[:gap]) + "  " + " ".join(fields[gap:])


def _missing_fields(rng: Random, parts: LineParts) -> str:
    """one or more fields missing (Common Log Format without referer and agent, no user, no bytes...)"""
    fields = parts.fields()
    drop = rng.choice(((7, 8), (2,), (6,), (5, 6), (8,)))
    return " ".join(f for i, f in enumerate(fields) if i not in drop)


def _tab_separators(rng: Random, parts: LineParts) -> str:
    """fields separated by tabs instead of spaces"""
    return "\t".join(parts.fields())


# Code points for garbage lines: control characters, Latin, Cyrillic, kana, emoji, replacement char.
# Deliberately without NUL, \n, \r and the other characters that str.splitlines() treats as line breaks
# (\x0b, \x0c, \x1c-\x1e, \x85, \u2028, \u2029), so every reader agrees on where the line ends.
GARBAGE_RANGES = (
    (0x01, 0x08),
    (0x0E, 0x1B),
    (0x21, 0x7F),
    (0xA0, 0x2FF),
    (0x400, 0x4FF),
    (0x3040, 0x30FF),
    (0x1F600, 0x1F64F),
    (0xFFFD, 0xFFFD),
)


def _binary_garbage(rng: Random, parts: LineParts) -> str:
    """random binary-looking characters (still valid UTF-8)"""
    chars = []
    for _ in range(rng.randint(8, 160)):
        low, high = rng.choice(GARBAGE_RANGES)
        chars.append(chr(rng.randint(low, high)))
    return "".join(chars)


MALFORMED_KINDS: dict[str, MalformedKind] = {
    "empty_line": _empty_line,
    "dash_request": _dash_request,
    "month_unknown": _with_fields("month name that is not a month (Foo)", mon="Foo"),
    "month_lowercase": _with_fields("month name in lower case (oct)", mon="oct"),
    "day_00": _with_fields("day 00", day="00"),
    "day_32": _with_fields("day 32", day="32"),
    "date_31_apr": _with_fields("31/Apr, a date that does not exist", day="31", mon="Apr"),
    "date_29_feb_non_leap": _with_fields("29/Feb/2026, not a leap year", day="29", mon="Feb", year="2026"),
    "year_1899": _with_fields("year 1899, before 1900", year="1899"),
    "year_2200": _with_fields("year 2200, after 2199", year="2200"),
    "hour_24": _with_fields("hour 24", hh="24"),
    "minute_60": _with_fields("minute 60", mm="60"),
    "second_60": _with_fields("second 60 (no leap seconds)", ss="60"),
    "offset_hours_15": _with_fields("UTC offset of 15 hours", offset="+1500"),
    "offset_minutes_60": _with_fields("UTC offset with 60 minutes", offset="-0560"),
    "missing_brackets": _missing_brackets,
    "status_099": _with_fields("status 099, below 100", status="099"),
    "status_600": _with_fields("status 600, above 599", status="600"),
    "status_two_digits": _with_fields("status of two digits (20)", status="20"),
    "status_not_numeric": _with_fields("status abc", status="abc"),
    "bytes_with_letter": _with_fields("bytes 12a", bytes="12a"),
    "bytes_negative": _with_fields("bytes -5", bytes="-5"),
    "method_lowercase": _with_fields("method in lower case (get)", method="get"),
    "target_with_space": _target_with_space,
    "target_with_quote": _target_with_quote,
    "protocol_no_minor": _with_fields("protocol HTTP/1 without a minor version", protocol="HTTP/1"),
    "protocol_https": _with_fields("protocol HTTPS/1.1", protocol="HTTPS/1.1"),
    "user_agent_unterminated": _unterminated_user_agent,
    "trailing_text": _trailing_text,
    "double_space": _double_space,
    "missing_fields": _missing_fields,
    "tab_separators": _tab_separators,
    "binary_garbage": _binary_garbage,
}


def _leap_day_2028(rng: Random, parts: LineParts) -> str:
    """a well-formed line dated 29/Feb/2028, which exists (clock-skewed client)"""
    parts.update(day="29", mon="Feb", year="2028", hh=f"{rng.randrange(24):02d}", mm=f"{rng.randrange(60):02d}")
    return parts.render()


# ------------------------------------------------------------------------------------------- writing


def minute_weights(rng: Random, start: datetime, minutes: int) -> list[float]:
    """Traffic per UTC minute: a daily curve, lighter weekends, noise and rare bursts."""
    weights = []
    for m in range(minutes):
        t = start + timedelta(minutes=m)
        hour = t.hour + t.minute / 60
        daily = 0.12 + 0.88 * (1 + math.cos(2 * math.pi * (hour - 15) / 24)) / 2  # peak 15:00 UTC
        weekend = 0.75 if t.weekday() >= 5 else 1.0
        burst = 3.0 if rng.random() < 0.002 else 1.0  # a crawler going through the catalogue
        weights.append(daily * weekend * burst * rng.uniform(0.85, 1.15))
    return weights


def spread(total: int, weights: list[float]) -> list[int]:
    """Split total into integer counts proportional to weights, summing exactly to total."""
    scale, running, done, counts = total / sum(weights), 0.0, 0, []
    for w in weights:
        running += w * scale
        step = round(running) - done
        counts.append(step)
        done += step
    return counts


def plan_malformed(rng: Random, lines: int, share: float, earlier: int) -> dict[int, str]:
    """Choose which line numbers (0-based) of a file are malformed, and how.

    earlier is the number of malformed lines planned for the previous files.
    """
    names = list(MALFORMED_KINDS)
    wanted = min(lines, round(lines * share))
    if wanted >= len(names):
        kinds = names + rng.choices(names, k=wanted - len(names))
    else:
        # Too few for all kinds: take the next ones in turn, so consecutive files cover them all.
        kinds = [names[(earlier + i) % len(names)] for i in range(wanted)]
    rng.shuffle(kinds)
    return dict(zip(sorted(rng.sample(range(lines), wanted)), kinds, strict=True))


class LogWriter:
    """Streams text blocks to a .log or a deterministic .log.gz and counts uncompressed bytes."""

    def __init__(self, path: Path, compress: bool):
        self.raw = path.open("wb")
        # mtime=0 and a fixed inner name make the gzip bytes depend on the content only.
        self.out = (
            gzip.GzipFile(filename=path.name[:-3], mode="wb", fileobj=self.raw, mtime=0, compresslevel=6)
            if compress
            else self.raw
        )
        self.bytes = 0

    def write(self, text: str) -> None:
        data = text.encode()
        self.bytes += len(data)
        self.out.write(data)

    def close(self) -> None:
        if self.out is not self.raw:
            self.out.close()
        self.raw.close()


def generate(
    out: Path,
    size_mb: float,
    seed: int,
    days: int,
    start: date,
    malformed_share: float,
    gzip_share: float,
    mix: str = "browsing",
) -> dict:
    """Write the log files into out; return a summary (files, bytes, lines, malformed per kind)."""
    rng = Random(seed)
    pools = Pools(rng)
    file_minutes = 24 * 60
    first_minute = datetime(start.year, start.month, start.day, tzinfo=UTC) - SERVER_OFFSET
    weights = minute_weights(rng, first_minute, days * file_minutes)
    # At least a hundred lines a file, so that no file is empty.
    total_lines = max(100 * days, round(size_mb * 1024 * 1024 / pools.mean_line_bytes()))
    per_minute = spread(total_lines, weights)
    gzip_count = min(days, max(1, round(days * gzip_share))) if gzip_share > 0 else 0
    gzipped = set(rng.sample(range(days), gzip_count))
    recent_clients: deque[list] = deque(maxlen=VISIT_WINDOW_MINUTES)  # carried across files: visits cross midnight

    out.mkdir(parents=True, exist_ok=True)
    planned_malformed = 0
    summary = {"files": [], "bytes": 0, "lines": 0, "kinds": dict.fromkeys(MALFORMED_KINDS, 0)}
    for day in range(days):
        name = f"access-{start + timedelta(days=day)}.log" + (".gz" if day in gzipped else "")
        counts = per_minute[day * file_minutes : (day + 1) * file_minutes]
        lines = sum(counts)
        special = plan_malformed(rng, lines, malformed_share, planned_malformed)
        planned_malformed += len(special)
        # Valid leap-day lines go on lines not already malformed.
        leap_days = min(lines - len(special), max(1, lines // LEAP_DAY_EVERY))
        while leap_days:
            line_number = rng.randrange(lines)
            if line_number not in special:
                special[line_number] = LEAP_DAY
                leap_days -= 1
        writer = LogWriter(out / name, compress=day in gzipped)
        write_day(
            rng,
            pools,
            writer,
            first_minute + timedelta(days=day),
            counts,
            special,
            summary["kinds"],
            recent_clients,
            MIXES[mix],
        )
        writer.close()
        summary["files"].append((name, writer.bytes, lines))
        summary["bytes"] += writer.bytes
        summary["lines"] += lines
    return summary


def write_day(
    rng: Random,
    pools: Pools,
    writer: LogWriter,
    first_minute: datetime,
    counts: list[int],
    special: dict[int, str],
    kind_counts: dict[str, int],
    recent_clients: deque[list],
    mix: tuple[float, float] = MIXES["browsing"],
) -> None:
    """Write one file: counts[m] lines in minute m after first_minute, special lines swapped in; `recent_clients`
    holds the clients of the last minutes, written before, and gets this file's. `mix` is one of MIXES."""
    returning_share, one_off_share = mix
    choices, getrandbits = rng.choices, rng.getrandbits
    client_rows, client_cum = pools.client_rows, pools.client_cum
    target_rows, target_cum = pools.target_rows, pools.target_cum
    referers, referer_cum = pools.referers, pools.referer_cum
    method_bits = (1 << METHOD_SLOTS_BITS) - 1
    special_at = sorted(special)
    next_special = 0
    line_number = 0
    block: list[str] = []
    for minute, n in enumerate(counts):
        if not n:
            continue
        utc = first_minute + timedelta(minutes=minute)
        # "[dd/Mon/yyyy:HH:MM:" for every offset: local time is UTC plus the offset.
        stamps = []
        for offset in pools.offset_minutes:
            local = utc + timedelta(minutes=offset)
            stamps.append(
                f"{local.day:02d}/{MONTHS[local.month - 1]}/{local.year}:{local.hour:02d}:{local.minute:02d}:"
            )
        seconds = sorted(choices(SECONDS, k=n))
        # Small local disorder: a few neighbours logged out of order.
        for i in rng.sample(range(n - 1), (n - 1) // 40):
            seconds[i], seconds[i + 1] = seconds[i + 1], seconds[i]
        returning = round(n * returning_share) if recent_clients else 0
        one_off = round((n - returning) * one_off_share)
        clients = choices(client_rows, cum_weights=client_cum, k=n - returning - one_off)
        if one_off:
            clients += [one_off_client(rng, row) for row in choices(client_rows, cum_weights=client_cum, k=one_off)]
        clients += choices(list(chain.from_iterable(recent_clients)), k=returning)
        rng.shuffle(clients)
        recent_clients.append(clients)
        targets = choices(target_rows, cum_weights=target_cum, k=n)
        referer_draws = choices(referers, cum_weights=referer_cum, k=n)
        # One draw picks both the method (low bits) and the response (high bits).
        draws = [getrandbits(METHOD_SLOTS_BITS + RESPONSE_SLOTS_BITS) for _ in range(n)]
        rows = zip(clients, targets, referer_draws, seconds, draws, strict=True)
        lines = [
            f"{head}{stamps[offset]}{sec}{zone}{methods[bits & method_bits]} {target}{proto}"
            f'{responses[bits >> METHOD_SLOTS_BITS]} "{ref}{ua_tail}'
            for (head, offset, zone, proto, ua_tail, _), (target, methods, responses), ref, sec, bits in rows
        ]
        end = line_number + n
        while next_special < len(special_at) and special_at[next_special] < end:
            position = special_at[next_special]
            kind = special[position]
            parts = sample_parts(rng, pools, utc, seconds[position - line_number])
            if kind == LEAP_DAY:
                text = _leap_day_2028(rng, parts)
            else:
                text = MALFORMED_KINDS[kind](rng, parts)
                kind_counts[kind] += 1
            lines[position - line_number] = text + "\n"
            next_special += 1
        line_number = end
        block.extend(lines)
        if len(block) >= WRITE_BLOCK_LINES:
            writer.write("".join(block))
            block = []
    writer.write("".join(block))


def one_off_client(rng: Random, row: tuple) -> tuple:
    """`row` from a fresh IPv4 address: its zone, protocol and user agent, a client nobody has seen."""
    address = rng.getrandbits(32)
    head = f"{address >> 24}.{(address >> 16) & 255}.{(address >> 8) & 255}.{address & 255} - - ["
    return (head, *row[1:])


def sample_parts(rng: Random, pools: Pools, utc: datetime, second: str) -> LineParts:
    """Fields of a fresh well-formed line at utc + second, for the malformed kinds to break."""
    client, ident, user, offset_index, protocol, ua = rng.choices(pools.client_rows, cum_weights=pools.client_cum)[0][5]
    target, methods, responses = rng.choices(pools.target_rows, cum_weights=pools.target_cum)[0]
    status, size = rng.choice(responses).split(" ")
    local = utc + timedelta(minutes=pools.offset_minutes[offset_index])
    return LineParts(
        client=client,
        ident=ident,
        user=user,
        day=f"{local.day:02d}",
        mon=MONTHS[local.month - 1],
        year=str(local.year),
        hh=f"{local.hour:02d}",
        mm=f"{local.minute:02d}",
        ss=second,
        offset=pools.offsets[offset_index],
        method=rng.choice(methods),
        target=target,
        protocol=protocol,
        status=status,
        bytes=size,
        referer=rng.choices(pools.referers, cum_weights=pools.referer_cum)[0],
        ua=ua,
    )


# ----------------------------------------------------------------------------------------------- CLI


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        epilog="Same arguments, same bytes. See the module docstring for details.",
    )
    parser.add_argument("--out", type=Path, help="directory to write the log files into (created if missing)")
    parser.add_argument("--size-mb", type=float, default=2.0, help="total uncompressed size in MiB (default 2)")
    parser.add_argument("--seed", type=int, default=7, help="random seed (default 7)")
    parser.add_argument("--days", type=int, default=3, help="number of daily files (default 3)")
    parser.add_argument(
        "--start",
        type=date.fromisoformat,
        default=date(2026, 10, 1),
        help="server-local date of the first file, YYYY-MM-DD (default 2026-10-01)",
    )
    parser.add_argument(
        "--malformed-share",
        type=share,
        default=0.02,
        help="share of lines that break the line spec (default 0.02)",
    )
    parser.add_argument(
        "--gzip-share",
        type=share,
        default=0.3,
        help="share of files written as .log.gz; at least one when above 0 (default 0.3)",
    )
    parser.add_argument(
        "--mix",
        choices=sorted(MIXES),
        default="browsing",
        help="traffic mix: visitors browsing several pages (default), or bot-heavy, where most make one request",
    )
    parser.add_argument("--list-kinds", action="store_true", help="list the malformed kinds and exit")
    args = parser.parse_args(argv)

    if args.list_kinds:
        for name, kind in MALFORMED_KINDS.items():
            print(f"{name:26} {kind.__doc__}")
        return 0
    if args.out is None:
        parser.error("--out is required")
    if args.days < 1 or args.size_mb <= 0:
        parser.error("--days and --size-mb must be positive")

    started = time.perf_counter()
    summary = generate(
        args.out, args.size_mb, args.seed, args.days, args.start, args.malformed_share, args.gzip_share, args.mix
    )
    elapsed = time.perf_counter() - started
    for name, size, lines in summary["files"]:
        print(f"{args.out / name}: {lines} lines, {size / 2**20:.1f} MiB uncompressed")
    # Files from an earlier run with other arguments would be loaded alongside these ones.
    written = {name for name, _, _ in summary["files"]}
    for stale in sorted(p.name for p in args.out.glob("access-*.log*") if p.name not in written):
        print(
            f"warning: {args.out / stale} is not from this run; delete it if it should not be loaded",
            file=sys.stderr,
        )
    malformed = sum(summary["kinds"].values())
    mib = summary["bytes"] / 2**20
    print(
        f"{len(summary['files'])} files, {summary['lines']} lines ({malformed} malformed), "
        f"{mib:.1f} MiB in {elapsed:.1f} s ({mib / elapsed:.0f} MiB/s)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
