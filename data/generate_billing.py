"""Deterministic generator of billing landing folders for the billing flow (flows/billing.py).

Usage::

    python data/generate_billing.py --out /tmp/billing --customers 2000 --events-per-customer 40 --period 2026-10 --seed 1
    python data/generate_billing.py --out /tmp/big --customers 10000 --events-per-customer 45 --period 2026-10 --seed 1  # ~21 MiB, ~7 s

The bundled sample was made with::

    python data/generate_billing.py --out data/sample_billing --customers 60 --events-per-customer 40 \\
        --period 2026-10 --seed 2026 --bad-share 0.02 --gzip-share 0.2 --parquet-share 0.1

The same arguments always give byte-identical files: every random draw comes from one ``random.Random(seed)``,
nothing reads the clock, nothing iterates a ``set``, gzip members are written with ``mtime=0`` and no file name,
and Parquet files (every column a string) are written by the pinned pyarrow.

What a folder holds
-------------------
* ``plans_<date>.csv``: two catalogues. One is dated 15 to 45 days before the period; the other 9 to 19 days into
  it, so it is the period's catalogue (the latest dated on or before the period's last day) although half the
  period had passed. Plans in EUR, USD (two plans), JPY (no decimals), KWD (3 decimals) and GBP; graduated tiers
  (up to 3, the last open-ended), an included quantity on some metrics, ``flat`` without metrics. The older
  catalogue also has ``legacy``, which the newer drops: its subscribers' usage and base fee are exceptions.
* ``subscriptions_<date>.csv``: an older file (3 to 10 days before the period) and the truth, 10 to 20 days into
  it. Customers: open-ended subscriptions, ones ending after the period, plan changes mid-month (one within USD,
  one from EUR to USD, so two invoices), starts and ends mid-month, a start and end inside the month, customers
  with no usage, customers only in the older file (their usage is an exception), ``legacy`` subscribers.
* ``usage_<date>``: one file per day of the period and 3 days of the next month (``.csv`` most often,
  ``--gzip-share`` as ``.csv.gz``, ``--parquet-share`` as ``.parquet``, at least one of each when the share is
  above 0; about one name in seven spells the day ``YYYYMMDD``). An event usually comes in the file of its UTC day,
  or of its local day when that is later. Some events of the period come late, in a next-month file; the next
  month's files also bring the next month's usage. Timestamps use offsets ``Z``, ``+02:00``, ``-0500``,
  ``+05:30``, ``+09``... with and without seconds and fractions; at the month boundaries some events cross UTC
  midnight (``…-10-31T21:30-05:00`` is in the next month, ``…-11-01T00:30+02:00`` and ``…-10-01T01:00+03:00``
  are not where they look). Quantities: whole api_calls, storage_gb and gpu_hours with 0 to 6 decimals. Duplicate
  deliveries: the same event_id in a later file (now and then with another quantity: the first delivery wins)
  and twice within one file. Usage of customers without an active subscription (before a start, after an end,
  customers never subscribed), of a metric the plan does not price, and of ``flat`` subscribers.
* Three customers whose invoice holds a half-way amount: 2 billable api_calls at 0.0025 EUR (0.005 → 0.01),
  3 at 0.5 JPY (1.5 → 2) and 1 at 0.0125 KWD (0.0125 → 0.013).
* CSV files vary as real exports do: CRLF line ends, a byte order mark, every field quoted, another column order,
  header names in other case or with spaces; values now and then carry surrounding spaces.

With ``--bad-share`` above 0, about that share of each usage file's rows (at least one) is bad in one named way
(``BAD_KINDS``, taking turns across the folder): malformed and offset-less ts, negative quantity, too many
decimals, a bad metric name, a missing value. Both catalogues get ``broken_open`` (two open-ended tiers) and
``broken_order`` (up_to not increasing), whose rows are rejected; customers subscribe to ``broken_open`` (their
usage is an exception). The truth subscriptions file gets a customer with overlapping subscriptions and one whose
end_date is before its start_date.

Memory stays bounded by one day's file: only events due in a later file wait.
"""

from __future__ import annotations

import argparse
import calendar
import gzip
import math
import re
import sys
import time
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from random import Random

import pyarrow as pa
import pyarrow.parquet as pq
from generator_options import (  # a sibling module: the generators run as python data/<name>.py
    report_written_folder,
    share,
)

USAGE_COLUMNS = ("event_id", "customer_id", "metric", "quantity", "ts")
PLAN_COLUMNS = ("plan_id", "currency", "base_fee", "metric", "included", "up_to", "unit_price")
SUBSCRIPTION_COLUMNS = ("customer_id", "plan_id", "start_date", "end_date")
NEXT_MONTH_DAYS = 3
WRITE_BLOCK_ROWS = 20_000

# Catalogues: plan_id -> (currency, base_fee, ((metric, included, ((up_to, unit_price), ...)), ...)).
# None as up_to is the open-ended tier. The period's catalogue is CATALOGUE_NEW.
CATALOGUE_OLD = {
    "starter": ("EUR", "9.99", (("api_calls", "1000", (("10000", "0.003"), (None, "0.002"))),)),
    "pro": (
        "USD",
        "49",
        (
            ("api_calls", "5000", (("20000", "0.0025"), ("50000", "0.0015"), (None, "0.001"))),
            ("storage_gb", "50", ((None, "0.15"),)),
        ),
    ),
    "tokyo": ("JPY", "5500", (("api_calls", "", (("50000", "0.5"), (None, "0.3"))),)),
    "gulf": (
        "KWD",
        "15.250",
        (("api_calls", "500", (("5000", "0.0125"), (None, "0.0085"))), ("gpu_hours", "", ((None, "0.875"),))),
    ),
    "flat": ("GBP", "25", ()),
    "legacy": ("EUR", "19", (("api_calls", "2000", ((None, "0.002"),)),)),
}
CATALOGUE_NEW = {
    "starter": ("EUR", "12.50", (("api_calls", "1000", (("10000", "0.0025"), (None, "0.0015"))),)),
    "pro": (
        "USD",
        "49",
        (
            ("api_calls", "5000", (("20000", "0.002"), ("50000", "0.0015"), (None, "0.001"))),
            ("storage_gb", "50", ((None, "0.125"),)),
        ),
    ),
    "team": (
        "USD",
        "99",
        (
            ("api_calls", "20000", (("100000", "0.0012"), (None, "0.0008"))),
            ("storage_gb", "200", (("1000", "0.1"), (None, "0.08"))),
            ("gpu_hours", "2.5", ((None, "1.95"),)),
        ),
    ),
    "tokyo": ("JPY", "5500", (("api_calls", "", (("50000", "0.5"), (None, "0.3"))),)),
    "gulf": (
        "KWD",
        "15.250",
        (("api_calls", "500", (("5000", "0.0125"), (None, "0.0085"))), ("gpu_hours", "", ((None, "0.875"),))),
    ),
    "flat": ("GBP", "25", ()),
}
# Plans breaking the plan-level rules (with --bad-share above 0): every row of each is rejected.
BROKEN_PLANS = {
    "broken_open": ("USD", "29", (("api_calls", "1000", (("10000", "0.01"), (None, "0.005"), (None, "0.004"))),)),
    "broken_order": ("USD", "39", (("api_calls", "0", (("5000", "0.01"), ("2000", "0.008"), (None, "0.005"))),)),
}
METRICS = ("api_calls", "storage_gb", "gpu_hours", "sms")  # no plan prices sms
# A customer's usage of a metric in a month at volume 1; a customer's volume is drawn from 0.05 to 4.
MONTHLY_QUANTITY = {"api_calls": 30_000, "storage_gb": 150, "gpu_hours": 20, "sms": 500}
# Plans of new subscriptions and their weights; plan changes go to another of them.
PLAN_WEIGHTS = (("starter", 30), ("pro", 25), ("team", 10), ("tokyo", 12), ("gulf", 10), ("flat", 8))
OLD_PLANS = ("starter", "pro", "tokyo", "gulf", "flat")

SCENARIOS = (
    ("steady", 50),  # one open-ended subscription from before the period
    ("bounded", 8),  # from before the period to a day after it
    ("plan_change", 8),  # plan A to the day before X, plan B from X
    ("starts", 6),  # starts in the period; usage before the start is an exception
    ("ends", 6),  # ends in the period; usage after the end is an exception
    ("short", 3),  # starts and ends in the period
    ("idle", 6),  # subscribed, no usage
    ("unsubscribed", 3),  # only in the older subscriptions file; its usage is an exception
    ("legacy", 2),  # on a plan the period's catalogue no longer has
)
# Every folder has at least one customer of each of these, whatever the draw.
FORCED = (
    "steady", "bounded", "same_currency_change", "currency_change", "starts", "ends", "short", "idle",
    "unsubscribed", "legacy", "flat_user", "heavy", "half_way_eur", "half_way_jpy", "half_way_kwd",
)  # fmt: skip
FORCED_BAD = ("broken_plan", "overlap", "reversed")
HALF_WAY = {  # plan and the quantities of its crafted api_calls events
    "half_way_eur": ("starter", ("600.5", "401.5")),  # 1002 - 1000 included = 2 × 0.0025 = 0.005
    "half_way_jpy": ("tokyo", ("1", "1", "1")),  # 3 × 0.5 = 1.5
    "half_way_kwd": ("gulf", ("250.25", "250.75")),  # 501 - 500 included = 1 × 0.0125 = 0.0125
}

# (offset in minutes, how it is written)
OFFSETS = (
    (0, "Z", 25), (0, "+00:00", 4), (120, "+02:00", 18), (60, "+0100", 10), (-300, "-0500", 12), (-480, "-08:00", 8),
    (330, "+05:30", 5), (540, "+09", 6), (-180, "-03", 4), (600, "+1000", 3), (-420, "-07:00", 4), (780, "+13:00", 1),
)  # fmt: skip
# (separator, seconds written, fraction digits)
TIMESTAMP_SHAPES = (("T", True, 0, 50), ("T", True, 3, 15), (" ", True, 0, 15), ("T", False, 0, 8), ("T", True, 6, 8))

LATE_SHARE = 0.01  # events of the period delivered in a next-month file
OUTSIDE_WINDOW_SHARE = 0.01  # events of a customer on a day without a subscription
GHOST_SHARE = 0.003  # events of customers never subscribed
UNPRICED_SHARE = 0.004  # events of a metric the customer's plan does not price
DUPLICATE_LATER_SHARE = 0.005  # events delivered again in a later file
DUPLICATE_SAME_FILE_SHARE = 0.003  # events delivered twice in one file
CONFLICTING_DUPLICATE_SHARE = 0.25  # of duplicates: another quantity (the first delivery wins)
BOUNDARY_EVENTS = 4  # events crossing UTC midnight at each month boundary
PADDED_VALUE_SHARE = 0.01
YYYYMMDD_NAME_SHARE = 1 / 7
CRLF_FILE_SHARE = 0.3
QUOTE_ALL_FILE_SHARE = 0.15
SHUFFLED_HEADER_SHARE = 0.2
STYLED_HEADER_SHARE = 0.15
BAD_KINDS = (
    "malformed_ts", "offsetless_ts", "negative_quantity", "too_many_decimals", "bad_metric", "missing_value",
)  # fmt: skip
MALFORMED_TIMESTAMPS = ("2026-10-32T10:00:00Z", "yesterday", "2026-10-01T10:00:00+2", "10/01/2026 10:00Z")
BAD_METRICS = ("API_Calls", "storage-gb", "9lives", "gpu hours")


class ArgumentError(ValueError):
    pass


def weighted(pairs) -> tuple[tuple, tuple[float, ...]]:
    values, weights = zip(*((pair[0] if len(pair) == 2 else pair[:-1], pair[-1]) for pair in pairs), strict=True)
    return values, weights


SCENARIO_VALUES, SCENARIO_WEIGHTS = weighted(SCENARIOS)
PLAN_VALUES, PLAN_PLAN_WEIGHTS = weighted(PLAN_WEIGHTS)
OFFSET_VALUES, OFFSET_WEIGHTS = weighted(OFFSETS)
SHAPE_VALUES, SHAPE_WEIGHTS = weighted(TIMESTAMP_SHAPES)


def at_least_one(rng: Random, count: float) -> int:
    whole = int(count)
    return max(1, whole + (rng.random() < count - whole))


def format_decimal(units: int, decimals: int) -> str:
    """units / 10**decimals in plain notation with exactly `decimals` places."""
    if decimals == 0:
        return str(units)
    scale = 10**decimals
    return f"{units // scale}.{units % scale:0{decimals}d}"


def render_timestamp(rng: Random, instant: datetime, offset: tuple[int, str] | None = None) -> str:
    """The instant as ISO text in a random shape and offset (precision the shape drops is cut, not rounded)."""
    minutes, written = offset or rng.choices(OFFSET_VALUES, OFFSET_WEIGHTS)[0]
    separator, with_seconds, digits = rng.choices(SHAPE_VALUES, SHAPE_WEIGHTS)[0]
    local = instant + timedelta(minutes=minutes)
    text = f"{local.year:04d}-{local.month:02d}-{local.day:02d}{separator}{local.hour:02d}:{local.minute:02d}"
    if with_seconds:
        text += f":{local.second:02d}"
        if digits:
            text += "." + f"{local.microsecond:06d}"[:digits]
    return text + written


def pad(rng: Random, value: str) -> str:
    if rng.random() < PADDED_VALUE_SHARE:
        return rng.choice((" ", "  ")) + value + rng.choice(("", " "))
    return value


# ------------------------------------------------------------------------------------------- customers


@dataclass
class Customer:
    customer_id: str
    scenario: str
    subscriptions: list[tuple[str, date, date | None]]  # the truth file's rows: plan_id, start, end
    older: list[tuple[str, date, date | None]]  # the older file's rows
    volume: float = 1.0
    usage_days: tuple[date, date] | None = None  # the days it sends usage on (None: no usage)
    crafted: tuple[str, ...] = ()  # half-way customers: their only events' quantities


def plan_on(customer: Customer, day: date) -> str | None:
    for plan_id, start, end in customer.subscriptions:
        if start <= day and (end is None or day <= end):
            return plan_id
    return None


def make_customer(rng: Random, number: int, scenario: str, first: date, last: date) -> Customer:
    """A customer's subscriptions in both files and the days it sends usage on, by scenario."""
    customer_id = f"C{number:06d}"
    plan = rng.choices(PLAN_VALUES, PLAN_PLAN_WEIGHTS)[0]
    since = first - timedelta(days=rng.randint(20, 400))
    month_end = last + timedelta(days=NEXT_MONTH_DAYS)
    whole = (first, month_end)
    day_in = lambda low, high: first + timedelta(days=rng.randint(low, high))  # noqa: E731
    old_plan = plan if plan in OLD_PLANS else "pro"
    customer = Customer(customer_id, scenario, [(plan, since, None)], [(old_plan, since, None)], usage_days=whole)
    if scenario == "bounded":
        customer.subscriptions = [(plan, since, last + timedelta(days=rng.randint(1, 200)))]
    elif scenario in ("plan_change", "same_currency_change", "currency_change"):
        before, after = {
            "same_currency_change": ("pro", "team"),
            "currency_change": ("starter", "pro"),
        }.get(scenario, (old_plan, rng.choice([name for name in PLAN_VALUES if name != old_plan])))
        change = day_in(5, 25)
        customer.subscriptions = [(before, since, change - timedelta(days=1)), (after, change, None)]
        customer.older = [(before, since, None)]
    elif scenario == "starts":
        start = day_in(3, 25)
        customer.subscriptions, customer.older = [(plan, start, None)], []
        customer.usage_days = (start, month_end)
    elif scenario == "ends":
        end = day_in(3, 25)
        customer.subscriptions = [(plan, since, end)]
        customer.usage_days = (first, end)
    elif scenario == "short":
        start = day_in(2, 12)
        end = start + timedelta(days=rng.randint(3, 12))
        customer.subscriptions, customer.older = [(plan, start, end)], []
        customer.usage_days = (start, end)
    elif scenario == "idle":
        customer.usage_days = None
    elif scenario == "unsubscribed":
        customer.subscriptions = []
    elif scenario == "legacy":
        customer.subscriptions = customer.older = [("legacy", since, None)]
    elif scenario == "heavy":  # enough api_calls for pro's third tier
        customer.subscriptions = customer.older = [("pro", since, None)]
    elif scenario == "flat_user":
        customer.subscriptions = [("flat", since, None)]
    elif scenario in HALF_WAY:
        half_way_plan, quantities = HALF_WAY[scenario]
        customer.subscriptions = customer.older = [(half_way_plan, since, None)]
        customer.usage_days, customer.crafted = None, quantities
    elif scenario == "broken_plan":
        customer.subscriptions = [("broken_open", since, None)]
    elif scenario == "overlap":
        start = day_in(5, 20)
        customer.subscriptions = [(plan, since, None), (plan, start, None)]
    elif scenario == "reversed":
        customer.subscriptions = [(plan, day_in(10, 20), day_in(2, 8))]
    if scenario == "steady" and rng.random() < 0.05:
        customer.older = [(rng.choice([name for name in OLD_PLANS if name != old_plan]), since, None)]
    customer.volume = 4.0 if scenario == "heavy" else math.exp(rng.uniform(math.log(0.05), math.log(4)))
    return customer


def plan_customers(rng: Random, count: int, first: date, last: date, bad: bool) -> list[Customer]:
    forced = list(FORCED) + (list(FORCED_BAD) if bad else [])
    if count < len(forced) + 2:
        raise ArgumentError(f"--customers must be at least {len(forced) + 2}")
    scenario_of = dict(zip(rng.sample(range(1, count + 1), len(forced)), forced, strict=True))
    customers = []
    for number in range(1, count + 1):
        scenario = scenario_of.get(number) or rng.choices(SCENARIO_VALUES, SCENARIO_WEIGHTS)[0]
        customers.append(make_customer(rng, number, scenario, first, last))
    return customers


# ------------------------------------------------------------------------------------------------ files


@dataclass
class LandingFile:
    name: str
    form: str  # csv | csv.gz | parquet
    columns: tuple[str, ...]
    rows: list[list[str | None]] = field(default_factory=list)
    crlf: bool = False
    bom: bool = False
    quote_all: bool = False
    column_order: tuple[str, ...] = ()
    header_names: tuple[str, ...] = ()


NEEDS_QUOTES = re.compile(r'[,"\n\r]')


def csv_field(value: str | None, quote_all: bool) -> str:
    text = "" if value is None else value
    if quote_all or NEEDS_QUOTES.search(text):
        return '"' + text.replace('"', '""') + '"'
    return text


def write_file(out: Path, file: LandingFile) -> int:
    """Write the file; return its size in bytes before compression."""
    path = out / file.name
    if file.form == "parquet":
        schema = pa.schema([(name, pa.string()) for name in file.columns])
        with pq.ParquetWriter(path, schema, compression="zstd") as writer:
            for start in range(0, len(file.rows), WRITE_BLOCK_ROWS * 5):
                block = file.rows[start : start + WRITE_BLOCK_ROWS * 5]
                arrays = {
                    name: [None if row[index] is None else row[index].strip() or None for row in block]
                    for index, name in enumerate(file.columns)
                }
                writer.write_table(pa.table(arrays, schema=schema))
        return path.stat().st_size
    order = file.column_order or file.columns
    positions = [file.columns.index(name) for name in order]
    header = file.header_names or order
    records = [",".join(csv_field(name, file.quote_all) for name in header)]
    records += [",".join(csv_field(row[position], file.quote_all) for position in positions) for row in file.rows]
    line_end = "\r\n" if file.crlf else "\n"
    size = 0
    with path.open("wb") as raw:
        sink = gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0) if file.form == "csv.gz" else raw
        try:
            if file.bom:
                sink.write("\ufeff".encode())
            for start in range(0, len(records), WRITE_BLOCK_ROWS):
                block = (line_end.join(records[start : start + WRITE_BLOCK_ROWS]) + line_end).encode()
                sink.write(block)
                size += len(block)
        finally:
            if sink is not raw:
                sink.close()
    return size


def shape_csv(rng: Random, file: LandingFile) -> None:
    """CRLF, quoting, column order and header style, drawn per file."""
    file.crlf = rng.random() < CRLF_FILE_SHARE
    file.quote_all = rng.random() < QUOTE_ALL_FILE_SHARE
    if rng.random() < SHUFFLED_HEADER_SHARE:
        file.column_order = tuple(rng.sample(file.columns, len(file.columns)))
    if rng.random() < STYLED_HEADER_SHARE:
        file.header_names = tuple(
            rng.choice((name.upper(), name.title(), f" {name} ")) for name in (file.column_order or file.columns)
        )


def catalogue_rows(catalogue: dict) -> list[list[str | None]]:
    rows = []
    for plan_id, (currency, base_fee, metrics) in catalogue.items():
        if not metrics:
            rows.append([plan_id, currency, base_fee, None, None, None, None])
        for metric, included, tiers in metrics:
            for up_to, unit_price in tiers:
                rows.append([plan_id, currency, base_fee, metric, included or None, up_to, unit_price])
    return rows


def subscription_rows(customers: list[Customer], older: bool) -> list[list[str | None]]:
    rows = []
    for customer in customers:
        for plan_id, start, end in customer.older if older else customer.subscriptions:
            rows.append([customer.customer_id, plan_id, start.isoformat(), end.isoformat() if end else None])
    return rows


# ------------------------------------------------------------------------------------------------ usage


def make_quantity(rng: Random, metric: str, volume: float, events_per_customer: int) -> str:
    mean = MONTHLY_QUANTITY[metric] * volume / max(1, events_per_customer)
    value = rng.uniform(0, 2 * mean)
    if metric in ("api_calls", "sms"):
        return str(max(1, round(value)))
    decimals = rng.randint(0, 6)
    return format_decimal(round(value * 10**decimals), decimals)


def usage_metric(rng: Random, plan_id: str | None, any_metric: bool) -> str | None:
    """A metric the plan prices, now and then one it does not; None when a flat plan's customer stays quiet."""
    priced = [metric for metric, _, _ in CATALOGUE_NEW.get(plan_id or "", ("", "", ()))[2]]
    if any_metric or plan_id is None:
        return rng.choice(METRICS)
    if rng.random() < UNPRICED_SHARE:
        return rng.choice([metric for metric in METRICS if metric not in priced])
    return rng.choice(priced) if priced else None


@dataclass
class Usage:
    """The usage files' days and the rows waiting for a later file."""

    days: list[date]
    period_last: date
    pending: dict[int, list[list[str | None]]] = field(default_factory=dict)
    next_event: int = 1

    def event_id(self) -> str:
        event_id = f"E{self.next_event:09d}"
        self.next_event += 1
        return event_id

    def deliver(self, index: int, row: list[str | None]) -> None:
        self.pending.setdefault(min(index, len(self.days) - 1), []).append(row)


def day_start(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


def schedule_event(
    rng: Random, usage: Usage, index: int, customer_id: str, metric: str, quantity: str, instant: datetime, offset=None
) -> None:
    """One event, delivered in the file of its UTC day or of its local day when that is later, now and then late
    (an event of the period in a next-month file) or more than once."""
    text = render_timestamp(rng, instant, offset)
    delivery = max(0, index, index + (date.fromisoformat(text[:10]) - instant.date()).days)
    if usage.days[0] <= instant.date() <= usage.period_last and rng.random() < LATE_SHARE:
        delivery = rng.randint(len(usage.days) - NEXT_MONTH_DAYS, len(usage.days) - 1)
    row = [pad(rng, usage.event_id()), pad(rng, customer_id), metric, pad(rng, quantity), text]
    usage.deliver(delivery, row)
    if rng.random() < DUPLICATE_LATER_SHARE and delivery + 1 < len(usage.days):
        usage.deliver(delivery + rng.randint(1, 3), duplicate(rng, row, instant))
    if rng.random() < DUPLICATE_SAME_FILE_SHARE:
        usage.deliver(delivery, duplicate(rng, row, instant))


def duplicate(rng: Random, row: list, instant: datetime) -> list:
    """The same event again: ts in another offset, and now and then another quantity (the first one counts)."""
    copy = [row[0].strip(), row[1].strip(), row[2], row[3].strip(), render_timestamp(rng, instant)]
    if rng.random() < CONFLICTING_DUPLICATE_SHARE:
        copy[3] = str(int(float(copy[3])) + 7)
    return copy


def bad_row(rng: Random, usage: Usage, kind: str, day: date, customer_id: str) -> list[str | None]:
    instant = day_start(day) + timedelta(seconds=rng.randint(0, 86_399))
    row = [usage.event_id(), customer_id, "api_calls", str(rng.randint(1, 500)), render_timestamp(rng, instant)]
    if kind == "malformed_ts":
        row[4] = rng.choice(MALFORMED_TIMESTAMPS)
    elif kind == "offsetless_ts":
        row[4] = re.sub(r"(Z|[+-]\d\d(:?\d\d)?)$", "", row[4])
    elif kind == "negative_quantity":
        row[3] = "-" + row[3]
    elif kind == "too_many_decimals":
        row[3] = f"{rng.randint(0, 99)}.{rng.randint(0, 9_999_999):07d}"
    elif kind == "bad_metric":
        row[2] = rng.choice(BAD_METRICS)
    else:
        row[rng.choice((0, 1, 3))] = rng.choice(("", "  "))
    return row


def events_of_day(rng: Random, usage: Usage, index: int, customers: list[Customer], per_customer: int) -> None:
    """Schedule the events whose UTC day is usage.days[index]."""
    day = usage.days[index]
    senders = [customer for customer in customers if customer.usage_days]
    active = [customer for customer in senders if customer.usage_days[0] <= day <= customer.usage_days[1]]
    count = round(len(active) * per_customer / calendar.monthrange(day.year, day.month)[1])
    start = day_start(day)
    for _ in range(count):
        draw = rng.random()
        if draw < GHOST_SHARE:
            customer = Customer(f"C{len(customers) + rng.randint(1, 50):06d}", "ghost", [], [])
        else:
            customer = rng.choice(senders if draw < GHOST_SHARE + OUTSIDE_WINDOW_SHARE else active)
        metric = usage_metric(rng, plan_on(customer, day), customer.scenario == "flat_user")
        if metric is None:
            continue
        instant = start + timedelta(seconds=rng.randint(0, 86_399), microseconds=rng.randint(0, 999_999))
        quantity = make_quantity(rng, metric, customer.volume, per_customer)
        schedule_event(rng, usage, index, customer.customer_id, metric, quantity, instant)


def boundary_events(rng: Random, usage: Usage, customers: list[Customer], last_index: int) -> None:
    """Events whose local day is not their UTC day, at both ends of the period."""
    steady = [c for c in customers if c.scenario == "steady" and plan_on(c, usage.days[0]) in ("pro", "starter")]
    steady = steady or customers
    first_day, last_day = usage.days[0], usage.days[last_index]
    for _ in range(BOUNDARY_EVENTS):
        customer = rng.choice(steady)
        # The evening before the period in UTC, already the period's first day locally (+03:00): not billed.
        instant = day_start(first_day) - timedelta(minutes=rng.randint(1, 170))
        schedule_event(rng, usage, 0, customer.customer_id, "api_calls", "100", instant, (180, "+03:00"))
        # The period's last evening in UTC, the next month locally (+02:00): billed in the period.
        instant = day_start(last_day) + timedelta(hours=23, minutes=rng.randint(0, 58))
        schedule_event(rng, usage, last_index, customer.customer_id, "api_calls", "10", instant, (120, "+02:00"))
        # The next month's first hours in UTC, still the period's last day locally (-05:00): not in the period.
        instant = day_start(last_day + timedelta(days=1)) + timedelta(minutes=rng.randint(1, 290))
        schedule_event(rng, usage, last_index + 1, customer.customer_id, "api_calls", "1000", instant, (-300, "-0500"))


def crafted_events(rng: Random, usage: Usage, customers: list[Customer]) -> None:
    """The half-way customers' events, in UTC at noon of the period's first days."""
    for customer in customers:
        for number, quantity in enumerate(customer.crafted):
            instant = day_start(usage.days[number + 2]) + timedelta(hours=12)
            usage.deliver(
                number + 2,
                [
                    usage.event_id(),
                    customer.customer_id,
                    "api_calls",
                    quantity,
                    render_timestamp(rng, instant, (0, "Z")),
                ],
            )


# ----------------------------------------------------------------------------------------------- folder


def parse_period(text: str) -> tuple[date, date]:
    match = re.fullmatch(r"(\d{4})-(\d{2})", text)
    if match is None or not 1 <= int(match.group(2)) <= 12:
        raise ArgumentError(f"--period {text!r} is not YYYY-MM")
    first = date(int(match.group(1)), int(match.group(2)), 1)
    following = date(first.year + first.month // 12, first.month % 12 + 1, 1)
    return first, following - timedelta(days=1)


def usage_forms(rng: Random, count: int, gzip_share: float, parquet_share: float) -> list[str]:
    parquet_count = min(count, max(1, round(count * parquet_share))) if parquet_share > 0 else 0
    gzip_count = min(count - parquet_count, max(1, round(count * gzip_share))) if gzip_share > 0 else 0
    forms = ["parquet"] * parquet_count + ["csv.gz"] * gzip_count + ["csv"] * (count - parquet_count - gzip_count)
    rng.shuffle(forms)
    return forms


def generate_billing(
    out: Path,
    customers: int,
    events_per_customer: int,
    period: str,
    seed: int,
    bad_share: float = 0.01,
    gzip_share: float = 0.2,
    parquet_share: float = 0.1,
) -> dict:
    """Write the landing folder; return a summary (files by form, rows, bad rows by kind, bytes, paths)."""
    if events_per_customer < 1:
        raise ArgumentError("--events-per-customer must be at least 1")
    for name, value in (("--bad-share", bad_share), ("--gzip-share", gzip_share), ("--parquet-share", parquet_share)):
        if not 0 <= value <= 1:
            raise ArgumentError(f"{name} must be between 0 and 1")
    if gzip_share + parquet_share > 1:
        raise ArgumentError("--gzip-share and --parquet-share add up to more than 1")
    first, last = parse_period(period)
    rng = Random(seed)
    people = plan_customers(rng, customers, first, last, bad_share > 0)
    out.mkdir(parents=True, exist_ok=True)
    summary = {"files": {}, "rows": 0, "bytes": 0, "bad": {}, "written": []}

    def emit(file: LandingFile) -> None:
        size = write_file(out, file)
        summary["files"][file.form] = summary["files"].get(file.form, 0) + 1
        summary["rows"] += len(file.rows)
        summary["bytes"] += size
        summary["written"].append(out / file.name)

    broken = BROKEN_PLANS if bad_share > 0 else {}
    for day, catalogue in (
        (first - timedelta(days=rng.randint(15, 45)), CATALOGUE_OLD),
        (first + timedelta(days=rng.randint(9, 19)), CATALOGUE_NEW),
    ):
        file = LandingFile(f"plans_{day}.csv", "csv", PLAN_COLUMNS, catalogue_rows(catalogue | broken))
        shape_csv(rng, file)
        emit(file)
    for day, older in (
        (first - timedelta(days=rng.randint(3, 10)), True),
        (first + timedelta(days=rng.randint(10, 20)), False),
    ):
        file = LandingFile(f"subscriptions_{day}.csv", "csv", SUBSCRIPTION_COLUMNS, subscription_rows(people, older))
        shape_csv(rng, file)
        emit(file)

    days = [first + timedelta(days=offset) for offset in range((last - first).days + 1 + NEXT_MONTH_DAYS)]
    usage = Usage(days, last)
    forms = usage_forms(rng, len(days), gzip_share, parquet_share)
    compact = set(rng.sample(range(len(days)), max(1, round(len(days) * YYYYMMDD_NAME_SHARE))))
    bom_index = rng.randrange(len(days))
    crafted_events(rng, usage, people)
    boundary_events(rng, usage, people, (last - first).days)
    turn = 0
    for index, day in enumerate(days):
        events_of_day(rng, usage, index, people, events_per_customer)
        rows = usage.pending.pop(index, [])
        if bad_share > 0:
            for _ in range(at_least_one(rng, len(rows) * bad_share)):
                kind = BAD_KINDS[turn % len(BAD_KINDS)]
                turn += 1
                summary["bad"][kind] = summary["bad"].get(kind, 0) + 1
                rows.insert(rng.randint(0, len(rows)), bad_row(rng, usage, kind, day, rng.choice(people).customer_id))
        stamp = f"{day:%Y%m%d}" if index in compact else f"{day:%Y-%m-%d}"
        file = LandingFile(f"usage_{stamp}.{forms[index]}", forms[index], USAGE_COLUMNS, rows)
        if file.form != "parquet":
            shape_csv(rng, file)
            file.bom = index == bom_index
        emit(file)
    return summary


# ----------------------------------------------------------------------------------------------- CLI


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        epilog="Same arguments, same bytes. See the module docstring for details.",
    )
    parser.add_argument("--out", type=Path, required=True, help="directory to write into (created if missing)")
    parser.add_argument("--customers", type=int, required=True, help="number of customers")
    parser.add_argument("--events-per-customer", type=int, required=True, help="usage events per customer and month")
    parser.add_argument("--period", required=True, help="the billing month, YYYY-MM")
    parser.add_argument("--seed", type=int, required=True, help="random seed")
    parser.add_argument("--bad-share", type=share, default=0.01, help="share of bad usage rows per file (default 0.01)")
    parser.add_argument("--gzip-share", type=share, default=0.2, help="share of usage files as .csv.gz (default 0.2)")
    parser.add_argument("--parquet-share", type=share, default=0.1, help="share of usage files as .parquet (0.1)")
    args = parser.parse_args(argv)

    started = time.perf_counter()
    try:
        summary = generate_billing(
            args.out,
            args.customers,
            args.events_per_customer,
            args.period,
            args.seed,
            args.bad_share,
            args.gzip_share,
            args.parquet_share,
        )
    except ArgumentError as error:
        parser.error(str(error))
    elapsed = time.perf_counter() - started
    report_written_folder(args.out, summary, elapsed)
    return 0


if __name__ == "__main__":
    sys.exit(main())
