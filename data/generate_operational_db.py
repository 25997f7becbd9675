"""Deterministic generator of a small shop's operational database, as SQLite, for the migrate flow.

Usage::

    python data/generate_operational_db.py                       # writes data/sample_shop.sqlite
    python data/generate_operational_db.py --out /tmp/shop.sqlite --customers 2000 --seed 3

The same arguments always give the same rows: every random draw comes from one ``random.Random(seed)`` and
nothing reads the clock.

What the database holds
-----------------------
* ``customers`` (INTEGER PRIMARY KEY): names in many scripts, a BOOLEAN, a DATE, a DECIMAL(12,2), a UUID, JSON
  preferences, a BLOB avatar, and NULLs in every nullable column.
* ``orders`` (INTEGER PRIMARY KEY): a TIMESTAMPTZ written with offsets from -09:30 to +14:00 (and ``Z``), a
  DATETIME, a DECIMAL(12,4) total, a REAL discount, a TIME and a BOOLEAN.
* ``order_lines``: a composite primary key (order_id, line_number), several lines per order.
* ``page_views``: no primary key, to show the migration's refusal; (session_id, seq) is unique, for ``--key``.
* A few values SQLite accepted but which break their declared type, for the migration to reject with a reason:
  ``'abc'`` in an INTEGER, ``'n/a'`` in a DECIMAL, a decimal with too many places, 31 April, a TIMESTAMPTZ without
  its offset, 2 in a BOOLEAN, a malformed UUID, broken JSON. ``BAD_VALUES`` lists them.
"""

import argparse
import json
import random
import sqlite3
import uuid
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

DEFAULT_OUT = Path(__file__).parent / "sample_shop.sqlite"

SCHEMA = """
create table customers (
    id integer primary key,
    name text not null,
    email text,
    active boolean,
    signed_up date,
    credit_limit decimal(12,2),
    external_id uuid,
    preferences json,
    avatar blob,
    notes text
);
create table orders (
    id integer primary key,
    customer_id integer,
    placed_at timestamptz,
    shipped_at datetime,
    total decimal(12,4),
    discount real,
    status text,
    gift boolean,
    pickup_time time
);
create table order_lines (
    order_id integer not null,
    line_number integer not null,
    product text not null,
    quantity integer,
    unit_price decimal(10,2),
    primary key (order_id, line_number)
);
create table page_views (
    session_id text not null,
    seq integer not null,
    path text,
    viewed_at datetime
);
"""

FIRST_NAMES = ["Ana", "Björn", "Chloé", "Dmitri", "Émile", "Fatima", "Grace", "Hiroshi", "Ingrid", "José"]
FIRST_NAMES += ["Kwame", "Łucja", "Mei", "Nikolai", "Olúwaseun", "Priya", "Zoë", "Søren", "Ξανθή", "李娜"]
LAST_NAMES = ["Smith", "Müller", "García", "Nguyễn", "O'Brien", "Kowalski", "Ivanova", "Tanaka", "Dubois", "王"]
PRODUCTS = ["tea", "coffee", "mug", "kettle", "filter papers", "grinder", "scale", "teapot", "cups (6)", "café crème"]
STATUSES = ["placed", "paid", "shipped", "delivered", "cancelled"]
OFFSETS = [0, 60, 120, -300, -420, 330, -570, 840, 545, -60]  # minutes east of UTC
PATHS = ["/", "/shop", "/shop/tea", "/shop/coffee", "/cart", "/checkout", "/account", "/help?q=refund"]

# (table, key, column, value): values SQLite stores as given, whatever the declared type says
BAD_VALUES = [
    ("order_lines", (7, 1), "quantity", "abc"),
    ("orders", (11,), "total", "n/a"),
    ("orders", (12,), "total", 12.34567),
    ("customers", (5,), "signed_up", "2024-04-31"),
    ("orders", (13,), "placed_at", "2024-03-01 10:00:00"),
    ("customers", (6,), "active", 2),
    ("customers", (7,), "external_id", "not-a-uuid"),
    ("customers", (8,), "preferences", "{broken"),
]


def maybe(rng: random.Random, value: object, null_share: float = 0.08) -> object:
    return None if rng.random() < null_share else value


def customers(rng: random.Random, count: int) -> list[tuple]:
    rows = []
    for customer_id in range(1, count + 1):
        name = f"{rng.choice(FIRST_NAMES)} {rng.choice(LAST_NAMES)}"
        email = f"customer{customer_id}@example.org"
        signed_up = (datetime(2020, 1, 1) + timedelta(days=rng.randrange(0, 2000))).date().isoformat()
        credit_limit = f"{rng.randrange(0, 5_000_00) / 100:.2f}"
        external_id = str(uuid.UUID(int=rng.getrandbits(128), version=4))
        preferences = json.dumps({"newsletter": rng.random() < 0.5, "language": rng.choice(["en", "de", "fr", "ja"])})
        avatar = bytes(rng.getrandbits(8) for _ in range(rng.randrange(0, 12)))
        notes = rng.choice([None, "", "prefers e-mail", "VIP 🌟", "line one\nline two", "tab\there", 'says "hi"'])
        rows.append(
            (
                customer_id,
                name,
                maybe(rng, email),
                maybe(rng, rng.random() < 0.8),
                maybe(rng, signed_up),
                maybe(rng, credit_limit),
                maybe(rng, external_id),
                maybe(rng, preferences),
                maybe(rng, avatar),
                notes,
            )
        )
    return rows


def orders(rng: random.Random, count: int, customer_count: int) -> list[tuple]:
    rows = []
    for order_id in range(1, count + 1):
        offset = timedelta(minutes=rng.choice(OFFSETS))
        instant = datetime(2025, 1, 1, tzinfo=UTC) + timedelta(seconds=rng.randrange(0, 365 * 86400))
        instant += timedelta(microseconds=rng.choice([0, 0, 500_000, rng.randrange(0, 1_000_000)]))
        local = instant.astimezone(timezone(offset))
        placed_at = local.isoformat(sep=" ") if offset else instant.strftime("%Y-%m-%d %H:%M:%S.%fZ")
        shipped_at = (instant + timedelta(hours=rng.randrange(2, 200))).strftime("%Y-%m-%d %H:%M:%S")
        total = f"{rng.randrange(1, 100_000_0000) / 10_000:.4f}"
        discount = rng.choice([0.0, 0.05, 0.1, 0.125, 0.3333333333333333])
        pickup = f"{rng.randrange(8, 20):02d}:{rng.choice([0, 15, 30, 45]):02d}:00"
        rows.append(
            (
                order_id,
                maybe(rng, rng.randrange(1, customer_count + 1), 0.02),
                maybe(rng, placed_at),
                maybe(rng, shipped_at, 0.3),
                maybe(rng, total),
                maybe(rng, discount),
                rng.choice(STATUSES),
                maybe(rng, rng.random() < 0.1),
                maybe(rng, pickup, 0.7),
            )
        )
    return rows


def order_lines(rng: random.Random, order_count: int) -> list[tuple]:
    rows = []
    for order_id in range(1, order_count + 1):
        for line_number in range(1, rng.randrange(1, 6) + 1):
            rows.append(
                (
                    order_id,
                    line_number,
                    rng.choice(PRODUCTS),
                    maybe(rng, rng.randrange(1, 10), 0.03),
                    maybe(rng, f"{rng.randrange(50, 20_000) / 100:.2f}", 0.03),
                )
            )
    return rows


def page_views(rng: random.Random, count: int) -> list[tuple]:
    rows = []
    sessions = [f"s{index:04d}" for index in range(count // 8 + 1)]
    seq_of = dict.fromkeys(sessions, 0)
    start = datetime(2025, 6, 1)
    for view in range(count):
        session = rng.choice(sessions)
        seq_of[session] += 1
        viewed_at = (start + timedelta(seconds=view * 37 + rng.randrange(0, 30))).strftime("%Y-%m-%d %H:%M:%S")
        rows.append((session, seq_of[session], rng.choice(PATHS), viewed_at))
    return rows


def generate(out: Path, customer_count: int, order_count: int, view_count: int, seed: int) -> Path:
    rng = random.Random(seed)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.unlink(missing_ok=True)
    with sqlite3.connect(out) as connection:
        connection.executescript(SCHEMA)
        connection.executemany(
            "insert into customers values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", customers(rng, customer_count)
        )
        connection.executemany(
            "insert into orders values (?, ?, ?, ?, ?, ?, ?, ?, ?)", orders(rng, order_count, customer_count)
        )
        connection.executemany("insert into order_lines values (?, ?, ?, ?, ?)", order_lines(rng, order_count))
        connection.executemany("insert into page_views values (?, ?, ?, ?)", page_views(rng, view_count))
        for table, key, column, value in BAD_VALUES:
            key_columns = ("order_id", "line_number") if table == "order_lines" else ("id",)
            where = " and ".join(f"{name} = ?" for name in key_columns)
            connection.execute(f"update {table} set {column} = ? where {where}", [value, *key])
    connection.close()
    with sqlite3.connect(out) as connection:
        connection.execute("vacuum")
    connection.close()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--customers", type=int, default=200)
    parser.add_argument("--orders", type=int, default=600)
    parser.add_argument("--page-views", type=int, default=800)
    parser.add_argument("--seed", type=int, default=11)
    args = parser.parse_args()
    path = generate(args.out, args.customers, args.orders, args.page_views, args.seed)
    print(f"{path}: {path.stat().st_size:,} bytes")


if __name__ == "__main__":
    main()
