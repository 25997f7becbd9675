"""Deterministic generator of daily sales export folders for the sales ETL flow (flows/sales.py).

Usage::

    python data/generate_sales.py --out /tmp/sales --days 7 --customers 2000 --orders-per-day 1500 --seed 1
    python data/generate_sales.py --out /tmp/big --days 10 --customers 100000 --orders-per-day 30000 --seed 1

The bundled sample was made with::

    python data/generate_sales.py --out data/sample_sales --days 5 --customers 150 --orders-per-day 120 \\
        --seed 2026 --bad-share 0.02 --gzip-share 0.25 --parquet-share 0.1

and its two files with a missing or an extra column (``customers_2026-10-02.csv``, ``order_lines_2026-10-03.csv``)
then moved to ``data/sample_sales_drift/``: rejected whole, they fail a run by design, so the main sample can end
Completed and the drift sample shows quarantine on its own.

The same arguments always give byte-identical files: every random draw comes from one ``random.Random(seed)``,
nothing reads the clock, nothing iterates a ``set``, gzip members are written with ``mtime=0`` and no file name,
and Parquet files are written by the pinned pyarrow.

What a folder holds
-------------------
Per export day ``customers_<day>``, ``orders_<day>``, ``order_lines_<day>`` and ``fx_rates_<day>``: ``.csv`` most
often, ``--gzip-share`` of the files as ``.csv.gz`` and ``--parquet-share`` as ``.parquet`` (at least one of each
when the share is above 0). About one name in seven (at least one) spells the day ``YYYYMMDD``, the rest
``YYYY-MM-DD``. Parquet columns are strings, except order_lines' ``line_no`` and ``quantity`` (int64); timestamps
are ISO text. CSV files vary the way real exports do: some have CRLF line ends, a byte order mark, every field
quoted, the columns in another order, or header names in other case or with spaces around them; values now and
then carry surrounding spaces, upper- or lower-case codes (``eur``, ``Shipped``, ``de``).

The history the flow must get right, all made on purpose and scaled with the size (at least one of each):

* customers: most arrive on the first day, the rest later; every day some change country, segment, name or email
  (some change back to an earlier value), some are re-delivered identical with a newer ``updated_at``, some get
  an older version (older ``updated_at``, other attributes) delivered in a later file, and some have an earlier
  ``updated_at`` re-delivered with corrected attributes (same instant, written with another offset).
* orders: each moves placed → paid → shipped → completed (some are cancelled, some refunded, some stop earlier),
  each step re-delivered in a later file with a newer ``updated_at``; some older versions arrive in a later file
  (they must not win); some orders reference a customer who arrives only in a later day's file (an inferred
  member, completed later) and some a customer who never arrives; a few orders arrive a day after their lines.
* order_lines: a later file re-delivers some orders' lines with a changed quantity, a removed line or an added
  line (the later set replaces the earlier one); some lines belong to orders that never arrive.
* fx_rates: USD, EUR, GBP, JPY, CHF, CAD, AUD and SEK; the first file also has the day before; some (day,
  currency) rates never arrive, some arrive two files late, some are re-delivered corrected in the next file;
  some days have a USD row (rate 1, written as ``1``, ``1.0``...).
* values: ``order_ts`` and ``updated_at`` with offsets ``Z``, ``+02:00``, ``-0500``, ``+05:30``, ``+09``, with and
  without seconds and with fractions of 1 to 6 digits, T or space; some orders cross UTC midnight; names with
  commas, quotes, a newline inside a quoted field, and non-ASCII (Ü, ß, 東京); unit prices with 0 to 4 decimals,
  free items, and single-line orders whose amount in USD lands exactly half-way (x.xx5) before rounding.

With ``--bad-share`` above 0, about that share of each file's rows (at least one per file) is bad in one named
way (``BAD_KINDS``; kinds rotate so that a folder holds each kind of each file kind when it has room): unknown
currency, zero or negative quantity, malformed and offset-less timestamps, invalid dates (2026-02-30), bad
emails, unknown country, too many decimals, negative prices, USD rates other than 1, unknown statuses, missing
values, over-long customer ids, wrong field counts and blank lines (CSV only), duplicate keys within a file
(conflicting and identical copies of a good row, which reject the good row too). With at least 5 days one
customers file lacks a column and one order_lines file has an extra column (every row of both is rejected).

Memory stays bounded by one day's files: orders keep only their not yet delivered future versions.
"""

from __future__ import annotations

import argparse
import gzip
import math
import re
import sys
import time
import unicodedata
from bisect import bisect_right
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from random import Random

import pyarrow as pa
import pyarrow.parquet as pq
from generator_options import (  # a sibling module: the generators run as python data/<name>.py
    report_written_folder,
    share,
)

KINDS = ("customers", "orders", "order_lines", "fx_rates")
COLUMNS = {
    "customers": ("customer_id", "name", "email", "country", "segment", "updated_at"),
    "orders": ("order_id", "customer_id", "order_ts", "status", "currency", "updated_at"),
    "order_lines": ("order_id", "line_no", "sku", "quantity", "unit_price"),
    "fx_rates": ("day", "currency", "rate_to_usd"),
}
# Parquet columns written as int64; every other column is a string.
INTEGER_COLUMNS = ("line_no", "quantity")

# Rows are joined and written this many at a time.
WRITE_BLOCK_ROWS = 20_000

# ------------------------------------------------------------------------------------------- value pools

FIRST_NAMES = (
    "Anna", "Jürgen", "Zoë", "José", "Björn", "Léa", "Mateo", "Aiko", "Hiroshi", "Fatima", "Olga", "Émile", "Sven",
    "Chloé", "Noah", "Mia", "Liam", "Inês", "Yuki", "Ángel", "Grete", "Søren", "Łukasz", "Priya", "Omar", "Ewa",
)  # fmt: skip
LAST_NAMES = (
    "Müller", "Großmann", "Weiß", "Schäfer", "O'Brien", "Nguyễn", "García", "Dvořák", "Smith", "Öztürk", "Ünal",
    "Lindqvist", "Kowalski", "Rossi", "Tanaka", "Suzuki", "Dubois", "Fernández", "Jäger", "Straßer", "Brown",
)  # fmt: skip
COMPANIES = (
    "東京商事", "Acme, Inc.", "Müller & Söhne GmbH", 'Café "Zum Löwen"', "Straßenbau Nord AG", "Ünal Lojistik A.Ş.",
    "Smith, Jones & Partners", "北京貿易有限公司", "Zürich Versicherungs-Gesellschaft", "Øresund Fisk ApS",
    "Société Générale d'Études", 'The "Best" Shop, Ltd.',
)  # fmt: skip
# A name with a line break inside, written in a quoted field.
MULTILINE_NAMES = ("Bäckerei Groß\nFiliale Süd", "東京商事\n大阪支店", "Acme, Inc.\nAttn: Accounts Payable")
DOMAINS = ("example.com", "mail.example.de", "example.co.uk", "beispiel.de", "example.jp", "shop.example.ch")
COUNTRIES = (
    ("US", 24), ("DE", 16), ("GB", 10), ("FR", 8), ("JP", 6), ("CH", 5), ("CA", 5), ("AU", 4), ("SE", 3),
    ("NL", 4), ("ES", 4), ("IT", 4), ("AT", 3), ("TR", 2), ("PL", 2),
)  # fmt: skip
SEGMENTS = ("consumer", "small business", "enterprise", "public sector")
STATUS_PATHS = (
    (("placed", "paid", "shipped", "completed"), 55),
    (("placed", "paid", "shipped"), 10),
    (("placed", "paid"), 6),
    (("placed",), 4),
    (("placed", "cancelled"), 8),
    (("placed", "paid", "cancelled"), 5),
    (("placed", "paid", "shipped", "completed", "refunded"), 6),
    (("paid", "shipped", "completed"), 6),
)
CURRENCY_WEIGHTS = (("USD", 40), ("EUR", 25), ("GBP", 12), ("JPY", 8), ("CHF", 6), ("CAD", 4), ("AUD", 3), ("SEK", 2))
# (rate to USD on the first day, decimals it is written with)
FX_START = {
    "EUR": (1.085, 6),
    "GBP": (1.27, 6),
    "JPY": (0.0067, 10),
    "CHF": (1.12, 8),
    "CAD": (0.73, 6),
    "AUD": (0.66, 7),
    "SEK": (0.095, 9),
}
NICE_CURRENCIES = ("EUR", "GBP", "CHF", "CAD", "AUD")
# Typical unit prices per currency, in whole units: (lowest, highest).
PRICE_RANGES = {"JPY": (100, 60_000), "SEK": (10, 5_000)}
DEFAULT_PRICE_RANGE = (1, 500)
PRICE_DECIMALS = ((0, 12), (1, 8), (2, 64), (3, 8), (4, 8))
QUANTITIES = ((1, 50), (2, 20), (3, 10), (4, 6), (5, 4), (6, 3), (10, 3), (12, 2), (24, 2))
LINE_COUNTS = ((1, 35), (2, 28), (3, 18), (4, 11), (5, 8))
# (offset in minutes, how it is written): Z, +hh:mm, +hhmm and +hh forms.
OFFSETS = (
    (0, "Z", 20), (0, "+00:00", 4), (120, "+02:00", 18), (60, "+0100", 10), (-300, "-0500", 12), (-480, "-08:00", 8),
    (330, "+05:30", 5), (540, "+09", 6), (-180, "-03", 4), (600, "+1000", 3), (-420, "-07:00", 5), (780, "+13:00", 1),
)  # fmt: skip
# (separator, seconds written, fraction digits) of a timestamp's text.
TIMESTAMP_SHAPES = (("T", True, 0, 50), ("T", True, 3, 15), (" ", True, 0, 15), ("T", False, 0, 8), ("T", True, 6, 6))
TIMESTAMP_SHAPES += ((" ", True, 1, 3), ("T", True, 2, 3))

# Share of rows or customers per day for each planned event.
CUSTOMER_CHANGE_SHARE = 0.04
CUSTOMER_IDENTICAL_SHARE = 0.01
CUSTOMER_OLDER_SHARE = 0.005
CUSTOMER_CORRECTION_SHARE = 0.003
CUSTOMER_CHANGE_BACK_SHARE = 0.25  # of changes
FIRST_DAY_CUSTOMER_SHARE = 0.7
MULTILINE_NAME_SHARE = 0.01
COMPANY_SHARE = 0.25
LATE_CUSTOMER_ORDER_SHARE = 0.01  # orders whose customer arrives in a later file
GHOST_CUSTOMER_ORDER_SHARE = 0.004  # orders whose customer never arrives
LATE_ORDER_SHARE = 0.02  # orders delivered the day after their lines
STALE_ORDER_SHARE = 0.03  # orders that get an older version delivered again later
MIDNIGHT_ORDER_SHARE = 0.03  # orders placed close to local midnight, far from UTC's
HALF_WAY_ORDER_SHARE = 0.01
LINE_CORRECTION_SHARE = 0.03
ORPHAN_LINE_ORDER_SHARE = 0.005
FX_MISSING_SHARE = 0.04
FX_LATE_SHARE = 0.03
FX_CORRECTION_SHARE = 0.05
FX_USD_ROW_SHARE = 0.5  # of fx files
PADDED_VALUE_SHARE = 0.01
CASE_VARIANT_SHARE = 0.03
YYYYMMDD_NAME_SHARE = 1 / 7
CRLF_FILE_SHARE = 0.3
BOM_FILE_SHARE = 0.1
QUOTE_ALL_FILE_SHARE = 0.15
SHUFFLED_HEADER_SHARE = 0.2
STYLED_HEADER_SHARE = 0.15

# Bad kinds per file kind, in the order they take turns. CSV_ONLY kinds need a text record (no Parquet).
BAD_KINDS = {
    "customers": (
        "bad_email", "unknown_country", "offsetless_timestamp", "malformed_timestamp", "invalid_date",
        "duplicate_conflicting", "duplicate_identical", "blank_line", "wrong_field_count", "missing_value",
        "long_customer_id",
    ),
    "orders": (
        "unknown_currency", "malformed_timestamp", "offsetless_timestamp", "invalid_date", "unknown_status",
        "duplicate_identical", "duplicate_conflicting", "wrong_field_count", "blank_line", "missing_value",
    ),
    "order_lines": (
        "nonpositive_quantity", "too_many_decimals", "duplicate_conflicting", "negative_price",
        "duplicate_identical", "wrong_field_count", "blank_line", "bad_line_no", "nonpositive_quantity",
    ),
    "fx_rates": (
        "unknown_currency", "invalid_date", "too_many_decimals", "usd_not_one", "duplicate_identical",
        "duplicate_conflicting", "blank_line", "wrong_field_count", "nonpositive_rate",
    ),
}  # fmt: skip
CSV_ONLY_KINDS = ("blank_line", "wrong_field_count")
BAD_EMAILS = ("anna.mueller.example.com", "jose@example", "sven @example.se", "mia@@example.de", "@example.com")
BAD_COUNTRIES = ("XX", "ZZ", "Deutschland", "U.S.", "D")
BAD_CURRENCIES = ("XYZ", "DEM", "EURO", "US$", "€")
BAD_STATUSES = ("shipping", "done", "void")
MALFORMED_TIMESTAMPS = (
    "2026-10-01T25:00:00Z", "01/10/2026 10:00", "2026-10-01T10:00:00+2", "yesterday", "2026-10-01T10:00:00.1234567Z",
    "2026-10-01T10:61Z", "2026-10-01",
)  # fmt: skip
INVALID_DATES = ("2026-02-30", "2026-11-31", "2027-02-29", "2026-13-01")


class ArgumentError(ValueError):
    pass


def pairs_cum(pairs) -> tuple[tuple, tuple[float, ...]]:
    """(value..., weight) tuples as the values and their cumulative weights, for rng.choices."""
    values, cumulative, total = [], [], 0.0
    for *value, weight in pairs:
        values.append(value[0] if len(value) == 1 else tuple(value))
        total += weight
        cumulative.append(total)
    return tuple(values), tuple(cumulative)


COUNTRY_VALUES, COUNTRY_CUM = pairs_cum(COUNTRIES)
STATUS_PATH_VALUES, STATUS_PATH_CUM = pairs_cum(STATUS_PATHS)
CURRENCY_VALUES, CURRENCY_CUM = pairs_cum(CURRENCY_WEIGHTS)
DECIMAL_VALUES, DECIMAL_CUM = pairs_cum(PRICE_DECIMALS)
QUANTITY_VALUES, QUANTITY_CUM = pairs_cum(QUANTITIES)
LINE_COUNT_VALUES, LINE_COUNT_CUM = pairs_cum(LINE_COUNTS)
OFFSET_VALUES, OFFSET_CUM = pairs_cum(OFFSETS)
SHAPE_VALUES, SHAPE_CUM = pairs_cum(TIMESTAMP_SHAPES)

# Weighted draws go through tables of DRAW_SLOTS entries (weights resolved to 1/4096): one random() a draw, about
# five times faster than rng.choices, which matters at a few million draws.
DRAW_SLOTS = 4096


def draw_table(values: tuple, cumulative: tuple[float, ...]) -> tuple:
    total = cumulative[-1]
    return tuple(values[bisect_right(cumulative, (slot + 0.5) / DRAW_SLOTS * total)] for slot in range(DRAW_SLOTS))


def draw(rng: Random, table: tuple):
    return table[int(rng.random() * DRAW_SLOTS)]


COUNTRY_TABLE = draw_table(COUNTRY_VALUES, COUNTRY_CUM)
STATUS_PATH_TABLE = draw_table(STATUS_PATH_VALUES, STATUS_PATH_CUM)
CURRENCY_TABLE = draw_table(CURRENCY_VALUES, CURRENCY_CUM)
DECIMAL_TABLE = draw_table(DECIMAL_VALUES, DECIMAL_CUM)
QUANTITY_TABLE = draw_table(QUANTITY_VALUES, QUANTITY_CUM)
LINE_COUNT_TABLE = draw_table(LINE_COUNT_VALUES, LINE_COUNT_CUM)
OFFSET_TABLE = draw_table(OFFSET_VALUES, OFFSET_CUM)
SHAPE_TABLE = draw_table(SHAPE_VALUES, SHAPE_CUM)


def at_least_one(rng: Random, count: float) -> int:
    """count rounded at random (so that small shares still happen now and then), and at least 1."""
    whole = int(count)
    return max(1, whole + (rng.random() < count - whole))


# ------------------------------------------------------------------------------------------------ values


def render_timestamp(rng: Random, instant: datetime, offset: tuple[int, str] | None = None) -> tuple[str, datetime]:
    """The instant as ISO text in a random shape and offset, and the exact instant that text denotes."""
    minutes, written = offset or draw(rng, OFFSET_TABLE)
    separator, with_seconds, digits = draw(rng, SHAPE_TABLE)
    if not with_seconds:
        instant = instant.replace(second=0, microsecond=0)
    else:
        keep = 10 ** (6 - digits)
        instant = instant.replace(microsecond=instant.microsecond // keep * keep)
    local = instant + timedelta(minutes=minutes)
    text = f"{local.year:04d}-{local.month:02d}-{local.day:02d}{separator}{local.hour:02d}:{local.minute:02d}"
    if with_seconds:
        text += f":{local.second:02d}"
        if digits:
            text += "." + f"{local.microsecond:06d}"[:digits]
    return text + written, instant


def format_decimal(units: int, decimals: int) -> str:
    """units / 10**decimals in plain notation with exactly `decimals` places."""
    if decimals == 0:
        return str(units)
    scale = 10**decimals
    return f"{units // scale}.{units % scale:0{decimals}d}"


def ascii_slug(text: str) -> str:
    """Lower-case ASCII letters of a name, for e-mail addresses; 'kontakt' when none are left."""
    folded = text.replace("ß", "ss").replace("ø", "o").replace("Ø", "O").replace("ł", "l").replace("Ł", "L")
    plain = unicodedata.normalize("NFKD", folded).encode("ascii", "ignore").decode()
    slug = "".join(character for character in plain.lower() if character.isalnum())
    return slug[:20] or "kontakt"


def vary_case(rng: Random, value: str) -> str:
    """Now and then the same code in other case (the flow normalizes it)."""
    if rng.random() < CASE_VARIANT_SHARE:
        return rng.choice((value.lower(), value.upper(), value.capitalize()))
    return value


def pad(rng: Random, value: str) -> str:
    """Now and then surrounding whitespace (the flow trims it)."""
    if rng.random() < PADDED_VALUE_SHARE:
        return rng.choice((" ", "  ", "\t")) + value + rng.choice(("", " "))
    return value


# ------------------------------------------------------------------------------------------------ people


@dataclass
class Customer:
    """A customer's attributes as last delivered (the version with the greatest updated_at)."""

    customer_id: str
    name: str
    email: str
    country: str
    segment: str
    updated_at: datetime
    first_day: int
    previous: tuple[str, str, str, str] | None = None  # attributes before the last change, to change back to


def make_name(rng: Random) -> str:
    if rng.random() < MULTILINE_NAME_SHARE:
        return rng.choice(MULTILINE_NAMES)
    if rng.random() < COMPANY_SHARE:
        return rng.choice(COMPANIES)
    first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
    shape = rng.random()
    if shape < 0.1:
        return f"{last}, {first}"
    if shape < 0.14:
        return f'{first} "{first[:2]}" {last}'
    return f"{first} {last}"


def make_email(rng: Random, name: str) -> str:
    words = [ascii_slug(word) for word in name.replace(",", " ").split()[:2]] or ["kontakt"]
    local = ".".join(words)
    if rng.random() < 0.3:
        local += str(rng.randint(1, 99))
    email = f"{local}@{rng.choice(DOMAINS)}"
    return email.title() if rng.random() < 0.05 else email


def attributes(customer: Customer) -> tuple[str, str, str, str]:
    return (customer.name, customer.email, customer.country, customer.segment)


def changed_attributes(rng: Random, customer: Customer) -> tuple[str, str, str, str]:
    """The customer's attributes after one change: back to the previous ones now and then."""
    if customer.previous and rng.random() < CUSTOMER_CHANGE_BACK_SHARE:
        return customer.previous
    name, email, country, segment = attributes(customer)
    what = rng.choice(("country", "segment", "name", "email"))
    if what == "country":
        country = rng.choice([code for code in COUNTRY_VALUES if code != country])
    elif what == "segment":
        segment = rng.choice([value for value in SEGMENTS if value != segment])
    elif what == "name":
        name = make_name(rng)
        name = name if name != customer.name else name + " GmbH"
    else:
        email = make_email(rng, name)
        email = email if email != customer.email else "new." + email
    return name, email, country, segment


def customer_row(rng: Random, customer_id: str, values: tuple[str, str, str, str], updated_at: str) -> list:
    name, email, country, segment = values
    return [pad(rng, customer_id), name, pad(rng, email), pad(rng, vary_case(rng, country)), segment, updated_at]


# ------------------------------------------------------------------------------------------------ a file


@dataclass
class ExportFile:
    """One planned export file: its name and shape, and the rows of its day (values in COLUMNS order)."""

    day: int
    kind: str
    name: str
    form: str  # csv | csv.gz | parquet
    rows: list[list] = field(default_factory=list)
    protected: int = 0  # rows[:protected] are never the target of a duplicate (the half-way orders)
    crlf: bool = False
    bom: bool = False
    quote_all: bool = False
    column_order: tuple[str, ...] = ()
    header_names: tuple[str, ...] = ()  # as written, in column_order
    missing_column: str | None = None
    extra_column: str | None = None


def plan_files(rng: Random, days: list[date], gzip_share: float, parquet_share: float, bad_share: float) -> dict:
    """Name, form and CSV shape of every file, keyed by (day index, kind)."""
    keys = [(index, kind) for index in range(len(days)) for kind in KINDS]
    count = len(keys)
    parquet_count = min(count, max(1, round(count * parquet_share))) if parquet_share > 0 else 0
    gzip_count = min(count - parquet_count, max(1, round(count * gzip_share))) if gzip_share > 0 else 0
    # The files with a missing or an extra column are CSV, so they are chosen first.
    odd_columns = {}
    if bad_share > 0 and len(days) >= 5:
        customers_day, lines_day = rng.sample(range(1, len(days)), 2)
        odd_columns[(customers_day, "customers")] = "missing"
        odd_columns[(lines_day, "order_lines")] = "extra"
    candidates = [key for key in keys if key not in odd_columns]
    order = rng.sample(candidates, len(candidates))
    forms = dict.fromkeys(keys, "csv")
    for key in order[:parquet_count]:
        forms[key] = "parquet"
    for key in order[parquet_count : parquet_count + gzip_count]:
        forms[key] = "csv.gz"
    compact_names = set(rng.sample(range(count), max(1, round(count * YYYYMMDD_NAME_SHARE))))
    csv_keys = [key for key in keys if forms[key] != "parquet"]
    crlf = set(rng.sample(csv_keys, max(1, round(len(csv_keys) * CRLF_FILE_SHARE)))) if csv_keys else set()
    bom = set(rng.sample(csv_keys, max(1, round(len(csv_keys) * BOM_FILE_SHARE)))) if csv_keys else set()

    files = {}
    for position, (index, kind) in enumerate(keys):
        day = days[index]
        stamp = f"{day:%Y%m%d}" if position in compact_names else f"{day:%Y-%m-%d}"
        form = forms[(index, kind)]
        file = ExportFile(index, kind, f"{kind}_{stamp}.{form}", form)
        columns = COLUMNS[kind]
        file.column_order = columns
        if form != "parquet":
            file.crlf = (index, kind) in crlf
            file.bom = (index, kind) in bom
            file.quote_all = rng.random() < QUOTE_ALL_FILE_SHARE
            if rng.random() < SHUFFLED_HEADER_SHARE:
                file.column_order = tuple(rng.sample(columns, len(columns)))
        file.header_names = file.column_order
        if form != "parquet" and rng.random() < STYLED_HEADER_SHARE:
            file.header_names = tuple(
                rng.choice((name.upper(), name.title(), f" {name} ")) for name in file.column_order
            )
        if odd_columns.get((index, kind)) == "missing":
            file.missing_column = rng.choice(columns[1:])
        elif odd_columns.get((index, kind)) == "extra":
            file.extra_column = "discount"
        files[(index, kind)] = file
    return files


NEEDS_QUOTES = re.compile(r'[,"\n\r]')


def csv_field(value, quote_all: bool) -> str:
    text = str(value)
    if quote_all or NEEDS_QUOTES.search(text):
        return '"' + text.replace('"', '""') + '"'
    return text


def csv_records(file: ExportFile) -> list[str]:
    """The file's records as CSV text without line ends, header first, columns in the file's order."""
    positions = [COLUMNS[file.kind].index(column) for column in file.column_order]
    header = list(file.header_names)
    if file.missing_column:
        dropped = file.column_order.index(file.missing_column)
        positions.pop(dropped)
        header.pop(dropped)
    if file.extra_column:
        header.append(file.extra_column)
    records = [",".join(csv_field(name, file.quote_all) for name in header)]
    for row in file.rows:
        if isinstance(row, str):  # a blank line or a record with the wrong number of fields, as written
            records.append(row)
            continue
        values = [row[position] for position in positions]
        if file.extra_column:
            values.append(extra_column_value(row))
        records.append(",".join(csv_field(value, file.quote_all) for value in values))
    return records


def extra_column_value(row: list) -> str:
    """A value for the extra column, derived from the row so that it needs no random draw."""
    return "0.00" if len(str(row[0])) % 2 else "5.00"


def write_file(out: Path, file: ExportFile) -> int:
    """Write the file; return its uncompressed size in bytes."""
    path = out / file.name
    if file.form == "parquet":
        return write_parquet(path, file)
    line_end = "\r\n" if file.crlf else "\n"
    records = csv_records(file)
    size = 0
    raw = path.open("wb")
    sink = (
        gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0, compresslevel=6) if file.form == "csv.gz" else raw
    )
    try:
        if file.bom:
            sink.write("\ufeff".encode())
            size += 3
        for start in range(0, len(records), WRITE_BLOCK_ROWS):
            block = (line_end.join(records[start : start + WRITE_BLOCK_ROWS]) + line_end).encode()
            sink.write(block)
            size += len(block)
    finally:
        if sink is not raw:
            sink.close()
        raw.close()
    return size


def write_parquet(path: Path, file: ExportFile) -> int:
    columns = COLUMNS[file.kind]
    schema = pa.schema([(name, pa.int64() if name in INTEGER_COLUMNS else pa.string()) for name in columns])
    with pq.ParquetWriter(path, schema, compression="zstd") as writer:
        for start in range(0, len(file.rows), WRITE_BLOCK_ROWS * 5):
            block = file.rows[start : start + WRITE_BLOCK_ROWS * 5]
            arrays = {
                name: [
                    (int(row[index]) if row[index] not in ("", None) else None)
                    if name in INTEGER_COLUMNS
                    else (row[index].strip(" \t") or None)  # values in Parquet come without padding
                    for row in block
                ]
                for index, name in enumerate(columns)
            }
            writer.write_table(pa.table(arrays, schema=schema))
    return path.stat().st_size


# --------------------------------------------------------------------------------------------- bad rows


class BadRows:
    """Puts bad rows into files, the kinds of each file kind taking turns across the folder."""

    def __init__(self, rng: Random, share: float):
        self.rng = rng
        self.share = share
        self.turn = dict.fromkeys(KINDS, 0)
        self.written: dict[str, int] = {}

    def next_kind(self, file: ExportFile) -> str:
        kinds = BAD_KINDS[file.kind]
        while True:
            kind = kinds[self.turn[file.kind] % len(kinds)]
            self.turn[file.kind] += 1
            if file.form != "parquet" or kind not in CSV_ONLY_KINDS:
                return kind

    def add(self, file: ExportFile) -> None:
        if self.share <= 0 or len(file.rows) <= file.protected:
            return
        rng = self.rng
        # Bad rows are copies of good ones; taken from this list, never from the bad rows inserted meanwhile.
        targets = file.rows[file.protected :]
        count = at_least_one(rng, len(file.rows) * self.share)
        for _ in range(count):
            kind = self.next_kind(file)
            target = rng.choice(targets)
            bad = self.corrupt(file, kind, list(target))
            if kind == "duplicate_conflicting" or kind == "duplicate_identical":
                file.rows.insert(rng.randrange(len(file.rows) + 1), bad)
            else:
                file.rows.insert(rng.randrange(file.protected, len(file.rows) + 1), bad)
            self.written[kind] = self.written.get(kind, 0) + 1

    def corrupt(self, file: ExportFile, kind: str, row: list):
        """A bad copy of a good row (a row's text for the CSV-only kinds)."""
        rng = self.rng
        columns = COLUMNS[file.kind]
        if kind == "blank_line":
            return rng.choice(("", "   ", "\t", " \t "))
        if kind == "wrong_field_count":
            # One field short or one too many (a multi-line value becomes "x": the record stays on one line).
            values = [csv_field(value, False) if "\n" not in str(value) else "x" for value in row]
            values = values[:-1] if rng.random() < 0.5 else [*values, "extra"]
            return ",".join(values)
        if kind == "duplicate_identical":
            return row
        if kind == "duplicate_conflicting":
            column = {"customers": "segment", "orders": "status", "order_lines": "quantity", "fx_rates": "rate_to_usd"}
            position = columns.index(column[file.kind])
            replacement = {
                "customers": lambda value: rng.choice([s for s in SEGMENTS if s != value.strip()]),
                "orders": lambda value: rng.choice(
                    [s for s in ("paid", "shipped", "completed") if s != value.strip().lower()]
                ),
                "order_lines": lambda value: str(int(value) + 1),
                "fx_rates": other_rate,
            }[file.kind]
            row[position] = replacement(str(row[position]))
            return row
        timestamp_column = {"customers": "updated_at", "orders": rng.choice(("order_ts", "updated_at"))}.get(file.kind)
        if kind == "bad_email":
            row[columns.index("email")] = rng.choice(BAD_EMAILS)
        elif kind == "unknown_country":
            row[columns.index("country")] = rng.choice(BAD_COUNTRIES)
        elif kind == "unknown_currency":
            row[columns.index("currency")] = rng.choice(BAD_CURRENCIES)
        elif kind == "unknown_status":
            row[columns.index("status")] = rng.choice(BAD_STATUSES)
        elif kind == "offsetless_timestamp":
            text = row[columns.index(timestamp_column)].strip()
            row[columns.index(timestamp_column)] = text[:19] if len(text) >= 19 and text[16] == ":" else text[:16]
        elif kind == "malformed_timestamp":
            row[columns.index(timestamp_column)] = rng.choice(MALFORMED_TIMESTAMPS)
        elif kind == "invalid_date":
            day = rng.choice(INVALID_DATES)
            if file.kind == "fx_rates":
                row[columns.index("day")] = day
            else:
                row[columns.index(timestamp_column)] = day + rng.choice(
                    ("T10:00:00Z", " 08:30+02:00", "T23:59:59.5-0500")
                )
        elif kind == "missing_value":
            row[
                columns.index(
                    rng.choice(("name", "segment") if file.kind == "customers" else ("customer_id", "status"))
                )
            ] = ""
        elif kind == "long_customer_id":
            row[0] = "C-" + "0" * 70 + str(rng.randint(1, 9))
        elif kind == "nonpositive_quantity":
            row[columns.index("quantity")] = rng.choice(("0", "-1", "-3"))
        elif kind == "negative_price":
            row[columns.index("unit_price")] = "-" + str(row[columns.index("unit_price")]).strip()
        elif kind == "bad_line_no":
            row[columns.index("line_no")] = "0" if file.form == "parquet" else rng.choice(("0", "1.0", "x", "+2"))
        elif kind == "too_many_decimals":
            if file.kind == "order_lines":
                row[columns.index("unit_price")] = f"{rng.randint(1, 99)}.{rng.randint(1, 9999):04d}{rng.randint(1, 9)}"
            else:
                row[columns.index("rate_to_usd")] = f"1.{rng.randint(1, 10**10 - 1):010d}{rng.randint(1, 9)}"
        elif kind == "usd_not_one":
            row[columns.index("currency")] = "USD"
            row[columns.index("rate_to_usd")] = rng.choice(("1.01", "0.99", "100"))
        elif kind == "nonpositive_rate":
            row[columns.index("rate_to_usd")] = rng.choice(("0", "0.0", "-1.085"))
        else:
            raise AssertionError(f"unknown bad kind {kind}")
        return row


def other_rate(written: str) -> str:
    """Another valid rate close to a written one (a USD rate stays 1, written another way)."""
    written = written.strip()
    if Decimal(written) == 1:
        return "1.000"
    places = len(written.split(".")[1]) if "." in written else 0
    if places < 10:
        return written + ("7" if places else ".7")
    return written[:-1] + ("1" if written[-1] != "1" else "2")


# ------------------------------------------------------------------------------------------------ the plan


@dataclass
class Folder:
    """Everything that carries over from one day to the next."""

    days: list[date]
    customers: list[Customer]
    arrivals: list[list[int]]  # customer indexes by the day they are first delivered
    rates: dict[tuple[int, str], str]  # (day index, currency) -> rate as written; day -1 is the day before
    nice_rates: dict[int, list[str]]  # day index -> currencies whose rate has 4 decimals (half-way orders)
    fx_extra: dict[int, list[list]] = field(default_factory=dict)  # file day -> late or corrected rate rows
    pending_orders: dict[int, list[list]] = field(default_factory=dict)  # file day -> order rows
    pending_lines: dict[int, list[list[list]]] = field(default_factory=dict)  # file day -> line sets
    next_order: int = 1
    next_ghost: int = 1


def day_start(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


def plan_customers(rng: Random, days: list[date], count: int) -> tuple[list[Customer], list[list[int]]]:
    customers, arrivals = [], [[] for _ in days]
    for number in range(1, count + 1):
        first_day = 0 if len(days) == 1 or rng.random() < FIRST_DAY_CUSTOMER_SHARE else rng.randrange(1, len(days))
        name = make_name(rng)
        customer = Customer(
            customer_id=f"C-{number:06d}",
            name=name,
            email=make_email(rng, name),
            country=draw(rng, COUNTRY_TABLE),
            segment=rng.choice(SEGMENTS),
            updated_at=day_start(days[first_day]) - timedelta(days=rng.randint(0, 400), seconds=rng.randint(0, 86_399)),
            first_day=first_day,
        )
        customers.append(customer)
        arrivals[first_day].append(number - 1)
    # Whatever the size, a name with a line break and one in CJK script, delivered on the first day.
    for name in (rng.choice(MULTILINE_NAMES), "東京商事"):
        customer = customers[rng.choice(arrivals[0])]
        customer.name, customer.email = name, make_email(rng, name)
    return customers, arrivals


def plan_rates(rng: Random, days: list[date]) -> tuple[dict, dict, dict]:
    """Rates of every (day, currency) from the day before the first on; which are nice; late and corrected rows."""
    rates, nice, extra = {}, {}, {}
    level = {currency: start for currency, (start, _) in FX_START.items()}
    missing_or_late: dict[tuple[int, str], str] = {}
    for index in range(-1, len(days)):
        # One currency a day has a rate of 4 decimals not divisible by 16, so that some 2-decimal prices land
        # exactly half-way after conversion (see half_way_price).
        nice_currency = rng.choice(NICE_CURRENCIES) if index >= 0 else None
        nice[index] = [nice_currency] if nice_currency else []
        for currency, (_, decimals) in FX_START.items():
            level[currency] *= math.exp(rng.gauss(0, 0.004))
            places = 4 if currency == nice_currency else decimals
            units = max(1, round(level[currency] * 10**places))
            while currency == nice_currency and units % 16 == 0:
                units += 1
            rates[(index, currency)] = format_decimal(units, places)
            if index < 0 or currency == nice_currency:
                continue
            draw = rng.random()
            if draw < FX_MISSING_SHARE:
                missing_or_late[(index, currency)] = "missing"
            elif draw < FX_MISSING_SHARE + FX_LATE_SHARE:
                missing_or_late[(index, currency)] = "late"
            elif draw < FX_MISSING_SHARE + FX_LATE_SHARE + FX_CORRECTION_SHARE:
                missing_or_late[(index, currency)] = "corrected"
    # At least one of each, on some day (the first file is left alone: it carries the day before too).
    ordinary = [(index, currency) for (index, currency) in rates if index >= 0 and currency not in nice[index]]
    for how in ("missing", "late", "corrected"):
        if how not in missing_or_late.values() and ordinary:
            missing_or_late[rng.choice(ordinary)] = how
    for (index, currency), how in sorted(missing_or_late.items()):
        if how == "late":
            if index + 2 < len(days):
                extra.setdefault(index + 2, []).append([format_day(days, index), currency, rates[(index, currency)]])
        elif how == "corrected" and index + 1 < len(days):
            # Delivered on its day as planned, then again in the next file with a corrected value, which wins.
            written = rates[(index, currency)]
            places = len(written.split(".")[1]) if "." in written else 0
            units = int(written.replace(".", "")) + rng.choice((-1, 1)) * rng.randint(1, 50)
            extra.setdefault(index + 1, []).append(
                [format_day(days, index), currency, format_decimal(max(1, units), places)]
            )
    return rates, nice, {"extra": extra, "how": missing_or_late}


def format_day(days: list[date], index: int) -> str:
    return f"{days[0] + timedelta(days=index):%Y-%m-%d}"


# --------------------------------------------------------------------------------------------- day by day


def customers_file_rows(rng: Random, folder: Folder, index: int) -> list[list]:
    """The customers delivered on day `index`: arrivals, changes, identical re-deliveries, older versions,
    corrections; at most one row per customer."""
    day = folder.days[index]
    rows: dict[int, list] = {}
    for number in folder.arrivals[index]:
        customer = folder.customers[number]
        text, customer.updated_at = render_timestamp(rng, customer.updated_at)
        rows[number] = customer_row(rng, customer.customer_id, attributes(customer), text)
    known = [number for past in folder.arrivals[:index] for number in past]
    if index == 0 or not known:
        return [rows[number] for number in sorted(rows)]

    def pick(share: float) -> list[int]:
        chosen = rng.sample(known, min(len(known), at_least_one(rng, len(known) * share)))
        return [number for number in chosen if number not in rows]

    for number in pick(CUSTOMER_CHANGE_SHARE):
        customer = folder.customers[number]
        new = changed_attributes(rng, customer)
        customer.previous = attributes(customer)
        customer.name, customer.email, customer.country, customer.segment = new
        instant = max(
            customer.updated_at + timedelta(minutes=5), day_start(day) + timedelta(seconds=rng.randint(0, 80_000))
        )
        text, customer.updated_at = render_timestamp(rng, instant)
        rows[number] = customer_row(rng, customer.customer_id, new, text)
    for number in pick(CUSTOMER_IDENTICAL_SHARE):
        customer = folder.customers[number]
        instant = max(
            customer.updated_at + timedelta(minutes=5), day_start(day) + timedelta(seconds=rng.randint(0, 80_000))
        )
        text, customer.updated_at = render_timestamp(rng, instant)
        rows[number] = customer_row(rng, customer.customer_id, attributes(customer), text)
    for number in pick(CUSTOMER_OLDER_SHARE):
        # Older than the latest version, with other attributes: it slots into the history, it does not win.
        customer = folder.customers[number]
        instant = customer.updated_at - timedelta(minutes=rng.randint(10, 3_000))
        text, _ = render_timestamp(rng, instant)
        rows[number] = customer_row(rng, customer.customer_id, changed_attributes(rng, customer), text)
    for number in pick(CUSTOMER_CORRECTION_SHARE):
        # The latest version again, same instant in another offset, with a corrected segment.
        customer = folder.customers[number]
        customer.segment = rng.choice([value for value in SEGMENTS if value != customer.segment])
        minutes, written = draw(rng, OFFSET_TABLE)
        local = customer.updated_at + timedelta(minutes=minutes)
        text = f"{local:%Y-%m-%dT%H:%M:%S}" + (f".{local.microsecond:06d}" if local.microsecond else "") + written
        rows[number] = customer_row(rng, customer.customer_id, attributes(customer), text)
    return [rows[number] for number in sorted(rows)]


def make_lines(rng: Random, currency: str) -> list[list]:
    """One order's lines: [line_no, sku, quantity, unit_price] with prices of 0 to 4 decimals."""
    low, high = PRICE_RANGES.get(currency, DEFAULT_PRICE_RANGE)
    count = draw(rng, LINE_COUNT_TABLE)
    lines = []
    for line_no in range(1, count + 1):
        decimals = 0 if currency == "JPY" else draw(rng, DECIMAL_TABLE)
        units = rng.randint(low * 10**decimals, high * 10**decimals)
        price = "0" if rng.random() < 0.01 else format_decimal(units, decimals)
        quantity = draw(rng, QUANTITY_TABLE)
        lines.append([line_no, f"SKU-{rng.randint(1, 99_999):05d}", quantity, price])
    return lines


def line_rows(order_id: str, lines: list[list]) -> list[list[str]]:
    """An order's lines as order_lines rows of text."""
    return [[order_id, str(line_no), sku, str(quantity), price] for line_no, sku, quantity, price in lines]


def half_way_price(rng: Random, rate: str) -> str | None:
    """A price with 2 decimals whose product with `rate` has exactly 3 decimals, the last a 5 (x.xx5)."""
    places = len(rate.split(".")[1]) if "." in rate else 0
    if places < 1:
        return None
    # cents * rate_units is the product at 2 + places decimals: it must be 5 * 10**(places-1) modulo 10**places.
    rate_units, modulus, target = int(rate.replace(".", "")), 10**places, 5 * 10 ** (places - 1)
    common = math.gcd(rate_units, modulus)
    if target % common:
        return None
    step = modulus // common
    first = target // common * pow(rate_units // common, -1, step) % step
    cents = first + step * rng.randint(100 // step + 1, 99_999 // step) if step < 99_999 else first
    return format_decimal(cents, 2) if cents >= 1 else None


def order_plan(rng: Random, folder: Folder, index: int, order_id: str, customer_id: str, lines_day: int) -> None:
    """Schedule every version of a new order (and its lines) into the files that deliver them."""
    day = folder.days[index]
    currency = draw(rng, CURRENCY_TABLE)
    offset = draw(rng, OFFSET_TABLE)
    if rng.random() < MIDNIGHT_ORDER_SHARE:
        # Close to local midnight with a large offset: the UTC day is the day before or after.
        offset = rng.choice(((-300, "-0500"), (-480, "-08:00"), (540, "+09"), (600, "+1000")))
        local_seconds = rng.randint(22 * 3600, 86_399) if offset[0] < 0 else rng.randint(0, 2 * 3600)
    else:
        local_seconds = rng.randint(6 * 3600, 22 * 3600)
    instant = day_start(day) + timedelta(seconds=local_seconds - offset[0] * 60, microseconds=rng.randint(0, 999_999))
    order_ts, instant = render_timestamp(rng, instant, offset)

    first_file = index + 1 if rng.random() < LATE_ORDER_SHARE and index + 1 < len(folder.days) else index
    path = draw(rng, STATUS_PATH_TABLE)
    versions, file_day, updated = [], first_file, instant + timedelta(minutes=rng.randint(1, 90))
    for step, status in enumerate(path):
        if step:
            file_day += rng.choice((1, 1, 2))
            updated = max(
                updated + timedelta(minutes=30),
                day_start(folder.days[0]) + timedelta(days=file_day, seconds=rng.randint(0, 72_000)),
            )
        if file_day >= len(folder.days):
            break
        text, updated = render_timestamp(rng, updated)
        row = [
            pad(rng, order_id),
            customer_id,
            order_ts,
            pad(rng, vary_case(rng, status)),
            vary_case(rng, currency),
            text,
        ]
        folder.pending_orders.setdefault(file_day, []).append(row)
        versions.append((file_day, row))
    if len(versions) >= 2 and rng.random() < STALE_ORDER_SHARE:
        stale_day = versions[-1][0] + 1
        if stale_day < len(folder.days):
            # An older version again, after a newer one: it must not win.
            folder.pending_orders.setdefault(stale_day, []).append(list(rng.choice(versions[:-1])[1]))

    lines = make_lines(rng, currency)
    folder.pending_lines.setdefault(lines_day, []).append(line_rows(order_id, lines))
    if rng.random() < LINE_CORRECTION_SHARE and lines_day + 1 < len(folder.days):
        schedule_line_correction(rng, folder, order_id, lines, lines_day + rng.choice((1, 1, 2)), currency)


def schedule_line_correction(
    rng: Random, folder: Folder, order_id: str, lines: list[list], file_day: int, currency: str
):
    """A later file re-delivers the order's lines: one quantity changed, the last line removed, or one added."""
    if file_day >= len(folder.days):
        return
    corrected = [list(line) for line in lines]
    how = rng.choice(("quantity", "removed", "added")) if len(lines) > 1 else rng.choice(("quantity", "added"))
    if how == "quantity":
        line = rng.choice(corrected)
        line[2] = line[2] + 1 if line[2] == 1 or rng.random() < 0.5 else line[2] - 1
    elif how == "removed":
        corrected.pop()
    else:
        corrected.append([len(corrected) + 1, *make_lines(rng, currency)[0][1:]])
    folder.pending_lines.setdefault(file_day, []).append(line_rows(order_id, corrected))


def half_way_orders(rng: Random, folder: Folder, index: int, count: int) -> tuple[list[list], list[list]]:
    """Single-line orders in a currency with a 4-decimal rate that day, whose USD amount is x.xx5 exactly."""
    orders, lines = [], []
    for currency in folder.nice_rates.get(index, []):
        for _ in range(count):
            price = half_way_price(rng, folder.rates[(index, currency)])
            if price is None:
                break
            order_id = f"O-{folder.next_order:08d}"
            folder.next_order += 1
            noon = day_start(folder.days[index]) + timedelta(hours=12, minutes=rng.randint(0, 59))
            order_ts, _ = render_timestamp(rng, noon, (0, "Z"))
            updated, _ = render_timestamp(rng, noon + timedelta(minutes=5), (0, "Z"))
            orders.append(
                [order_id, f"C-{rng.randint(1, len(folder.customers)):06d}", order_ts, "completed", currency, updated]
            )
            lines.append([order_id, "1", f"SKU-{rng.randint(1, 99_999):05d}", "1", price])
    return orders, lines


def orders_of_day(rng: Random, folder: Folder, index: int, per_day: int) -> None:
    """Plan the day's new orders: most by known customers, a few by later or never arriving ones."""
    known = [number for past in folder.arrivals[: index + 1] for number in past]
    later = [number for future in folder.arrivals[index + 1 :] for number in future]
    late_count = at_least_one(rng, per_day * LATE_CUSTOMER_ORDER_SHARE) if later else 0
    ghost_count = at_least_one(rng, per_day * GHOST_CUSTOMER_ORDER_SHARE)
    orphan_count = at_least_one(rng, per_day * ORPHAN_LINE_ORDER_SHARE)
    kinds = ["late"] * late_count + ["ghost"] * ghost_count + ["orphan"] * orphan_count
    kinds += ["known"] * max(0, per_day - len(kinds))
    rng.shuffle(kinds)
    for kind in kinds:
        order_id = f"O-{folder.next_order:08d}"
        folder.next_order += 1
        if kind == "orphan":
            # Lines for an order that never arrives (its number is used up).
            currency = draw(rng, CURRENCY_TABLE)
            lines = make_lines(rng, currency)
            folder.pending_lines.setdefault(index, []).append(line_rows(order_id, lines))
            continue
        if kind == "ghost":
            customer_id = f"C-{len(folder.customers) + folder.next_ghost:06d}"
            folder.next_ghost += 1
        elif kind == "late":
            customer_id = folder.customers[rng.choice(later)].customer_id
        elif known:
            customer_id = folder.customers[rng.choice(known)].customer_id
        else:
            customer_id = folder.customers[rng.randrange(len(folder.customers))].customer_id
        order_plan(rng, folder, index, order_id, customer_id, index)


def fx_rows_of_day(rng: Random, folder: Folder, index: int, how: dict) -> list[list]:
    rows = []
    for day_index in [-1, 0] if index == 0 else [index]:
        for currency in FX_START:
            state = how.get((day_index, currency), "")
            if state in ("missing", "late"):
                continue
            rows.append(
                [format_day(folder.days, day_index), vary_case(rng, currency), folder.rates[(day_index, currency)]]
            )
    rows.extend(folder.fx_extra.get(index, []))
    if rng.random() < FX_USD_ROW_SHARE:
        rows.append([format_day(folder.days, index), "USD", rng.choice(("1", "1.0", "1.0000000000", "1.00"))])
    rng.shuffle(rows)
    return rows


# ------------------------------------------------------------------------------------------------ folder


def generate_sales(
    out: Path,
    days: int,
    customers: int,
    orders_per_day: int,
    seed: int,
    first_day: date = date(2026, 10, 1),
    bad_share: float = 0.01,
    gzip_share: float = 0.25,
    parquet_share: float = 0.1,
) -> dict:
    """Write the export folder; return a summary (files by form, rows, bad rows by kind, bytes)."""
    if days < 1 or customers < 1 or orders_per_day < 1:
        raise ArgumentError("--days, --customers and --orders-per-day must be at least 1")
    for name, value in (("--bad-share", bad_share), ("--gzip-share", gzip_share), ("--parquet-share", parquet_share)):
        if not 0 <= value <= 1:
            raise ArgumentError(f"{name} must be between 0 and 1")
    if gzip_share + parquet_share > 1:
        raise ArgumentError("--gzip-share and --parquet-share add up to more than 1")
    rng = Random(seed)
    dates = [first_day + timedelta(days=index) for index in range(days)]
    plan = plan_files(rng, dates, gzip_share, parquet_share, bad_share)
    people, arrivals = plan_customers(rng, dates, customers)
    rates, nice, fx = plan_rates(rng, dates)
    folder = Folder(dates, people, arrivals, rates, nice, fx_extra=fx["extra"])
    bad = BadRows(rng, bad_share)
    out.mkdir(parents=True, exist_ok=True)
    summary = {"files": {}, "rows": 0, "bytes": 0, "bad": bad.written, "written": []}

    for index in range(days):
        half_way_count = at_least_one(rng, orders_per_day * HALF_WAY_ORDER_SHARE)
        special_orders, special_lines = half_way_orders(rng, folder, index, half_way_count)
        orders_of_day(rng, folder, index, max(0, orders_per_day - len(special_orders)))
        contents = {
            "customers": customers_file_rows(rng, folder, index),
            "orders": special_orders + folder.pending_orders.pop(index, []),
            "order_lines": special_lines + [line for lines in folder.pending_lines.pop(index, []) for line in lines],
            "fx_rates": fx_rows_of_day(rng, folder, index, fx["how"]),
        }
        protected = {"orders": len(special_orders), "order_lines": len(special_lines)}
        for kind in KINDS:
            file = plan[(index, kind)]
            file.rows = contents[kind]
            file.protected = protected.get(kind, 0)
            bad.add(file)
            size = write_file(out, file)
            summary["files"][file.form] = summary["files"].get(file.form, 0) + 1
            summary["rows"] += len(file.rows)
            summary["bytes"] += size
            summary["written"].append(out / file.name)
            file.rows = []  # the day is written; keep memory to one day
    return summary


# ----------------------------------------------------------------------------------------------- CLI


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        epilog="Same arguments, same bytes. See the module docstring for details.",
    )
    parser.add_argument("--out", type=Path, required=True, help="directory to write into (created if missing)")
    parser.add_argument("--days", type=int, required=True, help="number of export days")
    parser.add_argument("--customers", type=int, required=True, help="number of customers")
    parser.add_argument("--orders-per-day", type=int, required=True, help="new orders per day")
    parser.add_argument("--seed", type=int, required=True, help="random seed")
    parser.add_argument("--first-day", type=date.fromisoformat, default=date(2026, 10, 1), help="first export day")
    parser.add_argument("--bad-share", type=share, default=0.01, help="share of bad rows per file (default 0.01)")
    parser.add_argument("--gzip-share", type=share, default=0.25, help="share of files as .csv.gz (default 0.25)")
    parser.add_argument("--parquet-share", type=share, default=0.1, help="share of files as .parquet (default 0.1)")
    args = parser.parse_args(argv)

    started = time.perf_counter()
    try:
        summary = generate_sales(
            args.out,
            args.days,
            args.customers,
            args.orders_per_day,
            args.seed,
            args.first_day,
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
