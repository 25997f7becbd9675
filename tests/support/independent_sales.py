"""The sales rules (the "Sales ETL rules" spec) computed independently of flows/sales.py.

Written from the spec only, never from the flow, and without Polars, Pandera or DuckDB on the input side: the
standard library's ``csv`` (RFC 4180) and ``gzip`` read the files, ``pyarrow.parquet`` only reads Parquet files,
``re``, ``datetime`` and ``decimal.Decimal`` check and convert values, ``hashlib.md5`` makes the customer keys.
DuckDB is used only to read the warehouse back in ``assert_sales_match_independent_computation``.

``expected_sales(source)`` returns every table of the ``sales`` schema as sorted lists of Python tuples (columns in
the spec's order; NULL is None and sorts last), the rejected records as sorted (absolute source, line number)
pairs, and the ledger per loaded file as (source, rows_in, rows_loaded, rows_rejected). ``read_export_file`` and
``read_exports`` give the checked records of files, with every reject's reason, for tests of the reference itself.

Readings of the spec where its text leaves a choice (the flow must make the same ones):

* Input files are the regular files directly in the folder named ``<kind>_<date>.csv``, ``.csv.gz`` or
  ``.parquet`` (kind and extension case-sensitive). ``<kind>_<anything else>.<extension>`` is listed but fails as a
  batch: ``<date>`` must be the whole middle part and a real date. Other names are not listed.
* CSV lines end at "\\n" only ("\\r\\n" is "\\r" + "\\n"); a "\\r" elsewhere is data. Bytes are decoded as UTF-8 with
  invalid bytes replaced (the generator writes none). Header names that occur twice count as unexpected columns.
* "Whitespace" (trimming, blank lines) is Unicode White_Space, not Python's wider ``str.isspace``.
* Parquet files follow the CSV value rules too: column names trimmed and lower-cased, values trimmed, an empty
  value is NULL. A value's text form: strings as they are, integers in decimal, dates as YYYY-MM-DD, decimals in
  plain notation, floats as Python's shortest repr.
* Timestamps: a fraction needs seconds (``HH:MM.5`` is malformed); offsets within ±14:59 (as for access logs);
  ``T`` and ``Z`` upper-case only. Year 1900-2199 applies to the UTC instant.
* Decimals: "decimal places" count the written digits after the point (``1.50000`` has 5); "integer digits" count
  the value's digits (leading zeros do not count), i.e. the value must fit the DECIMAL type. ``-0`` is 0.
* line_no must fit an INTEGER and quantity a BIGINT, otherwise the row is rejected ("is too large").
* ISO 4217: the List One codes of currencies in circulation (no funds, metals, bond units, SDRs, XTS or XXX:
  goods are priced in money). ISO 3166-1 "assigned": the 249 officially assigned codes (not UK, EU or XK).
* Keys are compared in their stored form: customer_id / order_id as trimmed text, line_no as an integer, day as a
  date, currency upper-case. customer "updated_at" is compared as an instant (+02:00 and Z forms are one time).
* fact_order_lines: a file "has lines for an order" when it loaded at least one line of it (rejected lines do
  not count). Inferred members come from current orders only, never from lines.
* A file whose rows are all rejected (missing or extra column) is still a loaded batch (rows_loaded 0); a file
  whose name has no valid date is a failed batch (``failed_sources``) with no rejects and no rows.
"""

from __future__ import annotations

import csv
import gzip
import hashlib
import json
import re
import sys
from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import ROUND_HALF_UP, Decimal, localcontext
from pathlib import Path

import pyarrow.parquet as parquet

# Columns of each kind of export file, in the spec's order.
EXPORT_COLUMNS = {
    "customers": ("customer_id", "name", "email", "country", "segment", "updated_at"),
    "orders": ("order_id", "customer_id", "order_ts", "status", "currency", "updated_at"),
    "order_lines": ("order_id", "line_no", "sku", "quantity", "unit_price"),
    "fx_rates": ("day", "currency", "rate_to_usd"),
}
KEY_COLUMNS = {
    "customers": ("customer_id",),
    "orders": ("order_id",),
    "order_lines": ("order_id", "line_no"),
    "fx_rates": ("day", "currency"),
}
EXPORT_NAME = re.compile(r"(customers|orders|order_lines|fx_rates)_(.*)\.(csv|csv\.gz|parquet)")
NAME_DATE = re.compile(r"(\d{4})-?(\d{2})-?(\d{2})")

# The warehouse tables: (column, DuckDB type as information_schema spells it), in the spec's order.
TABLES = {
    "dim_customer": (
        ("customer_key", "VARCHAR"),
        ("customer_id", "VARCHAR"),
        ("version", "INTEGER"),
        ("name", "VARCHAR"),
        ("email", "VARCHAR"),
        ("country", "VARCHAR"),
        ("segment", "VARCHAR"),
        ("valid_from", "TIMESTAMP WITH TIME ZONE"),
        ("valid_to", "TIMESTAMP WITH TIME ZONE"),
        ("is_current", "BOOLEAN"),
        ("is_inferred", "BOOLEAN"),
        ("updated_at", "TIMESTAMP WITH TIME ZONE"),
    ),
    "fact_orders": (
        ("order_id", "VARCHAR"),
        ("customer_id", "VARCHAR"),
        ("customer_key", "VARCHAR"),
        ("order_ts", "TIMESTAMP WITH TIME ZONE"),
        ("order_day", "DATE"),
        ("status", "VARCHAR"),
        ("currency", "VARCHAR"),
        ("updated_at", "TIMESTAMP WITH TIME ZONE"),
        ("lines", "BIGINT"),
        ("items", "BIGINT"),
        ("amount", "DECIMAL(38,4)"),
        ("rate_to_usd", "DECIMAL(18,10)"),
        ("amount_usd", "DECIMAL(38,2)"),
    ),
    "fact_order_lines": (
        ("order_id", "VARCHAR"),
        ("line_no", "INTEGER"),
        ("sku", "VARCHAR"),
        ("quantity", "BIGINT"),
        ("unit_price", "DECIMAL(18,4)"),
        ("amount", "DECIMAL(38,4)"),
        ("customer_key", "VARCHAR"),
        ("order_day", "DATE"),
    ),
    "fx_rates": (("day", "DATE"), ("currency", "VARCHAR"), ("rate_to_usd", "DECIMAL(18,10)")),
    "daily_revenue": (
        ("day", "DATE"),
        ("currency", "VARCHAR"),
        ("orders", "BIGINT"),
        ("items", "BIGINT"),
        ("revenue", "DECIMAL(38,4)"),
        ("rate_to_usd", "DECIMAL(18,10)"),
        ("revenue_usd", "DECIMAL(38,2)"),
    ),
    "customer_lifetime": (
        ("customer_id", "VARCHAR"),
        ("first_order_day", "DATE"),
        ("last_order_day", "DATE"),
        ("orders", "BIGINT"),
        ("lifetime_revenue_usd", "DECIMAL(38,2)"),
        ("orders_without_rate", "BIGINT"),
    ),
}
# Identifying columns of each table, to show a mismatch as "this row, these columns".
TABLE_KEYS = {
    "dim_customer": 1,
    "fact_orders": 1,
    "fact_order_lines": 2,
    "fx_rates": 2,
    "daily_revenue": 2,
    "customer_lifetime": 1,
}

# Unicode White_Space; Python's str.strip() would also take the separators U+001C..U+001F.
WHITESPACE = (
    "\t\n\x0b\x0c\r \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a"
    "\u2028\u2029\u202f\u205f\u3000"
)
TIMESTAMP = re.compile(
    r"(?P<year>\d{4})-(?P<month>\d{2})-(?P<day>\d{2})[T ](?P<hour>\d{2}):(?P<minute>\d{2})"
    r"(?::(?P<second>\d{2})(?:\.(?P<fraction>\d{1,6}))?)?"
    r"(?:(?P<utc>Z)|(?P<sign>[+-])(?P<offset_hours>\d{2})(?::?(?P<offset_minutes>\d{2}))?)"
)
TIMESTAMP_WITHOUT_OFFSET = re.compile(r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d{1,6})?)?")
DATE = re.compile(r"(\d{4})-(\d{2})-(\d{2})")
DECIMAL = re.compile(r"-?[0-9]+(\.[0-9]+)?")
EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")
STATUSES = ("placed", "paid", "shipped", "completed", "cancelled", "refunded")
REVENUE_STATUSES = ("shipped", "completed")
MAX_CUSTOMER_ID_LENGTH = 64
MAX_INTEGER = 2**31 - 1
MAX_BIGINT = 2**63 - 1
START_OF_HISTORY = datetime(1900, 1, 1, tzinfo=UTC)
CENTS = Decimal("0.01")
SCALES = {
    "amount": 4,
    "unit_price": 4,
    "revenue": 4,
    "rate_to_usd": 10,
    "amount_usd": 2,
    "revenue_usd": 2,
    "lifetime_revenue_usd": 2,
}

# ISO 3166-1 alpha-2, the 249 officially assigned codes (written out here, independently of the product's list).
COUNTRY_CODES = """
    AD AE AF AG AI AL AM AO AQ AR AS AT AU AW AX AZ BA BB BD BE BF BG BH BI BJ BL BM BN BO BQ BR BS BT BV BW BY BZ
    CA CC CD CF CG CH CI CK CL CM CN CO CR CU CV CW CX CY CZ DE DJ DK DM DO DZ EC EE EG EH ER ES ET FI FJ FK FM FO
    FR GA GB GD GE GF GG GH GI GL GM GN GP GQ GR GS GT GU GW GY HK HM HN HR HT HU ID IE IL IM IN IO IQ IR IS IT JE
    JM JO JP KE KG KH KI KM KN KP KR KW KY KZ LA LB LC LI LK LR LS LT LU LV LY MA MC MD ME MF MG MH MK ML MM MN MO
    MP MQ MR MS MT MU MV MW MX MY MZ NA NC NE NF NG NI NL NO NP NR NU NZ OM PA PE PF PG PH PK PL PM PN PR PS PT PW
    PY QA RE RO RS RU RW SA SB SC SD SE SG SH SI SJ SK SL SM SN SO SR SS ST SV SX SY SZ TC TD TF TG TH TJ TK TL TM
    TN TO TR TT TV TW TZ UA UG UM US UY UZ VA VC VE VG VI VN VU WF WS YE YT ZA ZM ZW
"""
# ISO 4217 List One codes of currencies in circulation: goods are priced in money, so fund codes (BOV, CHE, ...),
# precious metals (XAU, ...), SDRs, XTS and XXX are out, as docs/sales.md says. Withdrawn codes such as
# HRK, SLL, ZWL, ANG, CUC, VEF, MRO, STD, BYR, LTL, DEM are not here.
CURRENCY_CODES = """
    AED AFN ALL AMD AOA ARS AUD AWG AZN BAM BBD BDT BHD BIF BMD BND BOB BRL BSD BTN BWP BYN BZD CAD CDF 
    CHF CLP CNY COP CRC CUP CVE CZK DJF DKK DOP DZD EGP ERN ETB EUR FJD FKP GBP GEL GHS GIP GMD GNF
    GTQ GYD HKD HNL HTG HUF IDR ILS INR IQD IRR ISK JMD JOD JPY KES KGS KHR KMF KPW KRW KWD KYD KZT LAK LBP LKR
    LRD LSL LYD MAD MDL MGA MKD MMK MNT MOP MRU MUR MVR MWK MXN MYR MZN NAD NGN NIO NOK NPR NZD OMR PAB PEN
    PGK PHP PKR PLN PYG QAR RON RSD RUB RWF SAR SBD SCR SDG SEK SGD SHP SLE SOS SRD SSP STN SVC SYP SZL THB TJS
    TMT TND TOP TRY TTD TWD TZS UAH UGX USD UYU UZS VED VES VND VUV WST XAF 
    XCD XCG XOF XPF YER ZAR ZMW ZWG
"""

COUNTRIES = frozenset(COUNTRY_CODES.split())
CURRENCIES = frozenset(CURRENCY_CODES.split())

csv.field_size_limit(sys.maxsize)  # a quoted field may be long; the default 128 KiB limit would raise


# ------------------------------------------------------------------------------------------------- reading


@dataclass
class Record:
    """One record of an export file: where it starts, its text, its fields by column (None when unreadable)."""

    line_number: int
    raw: str
    fields: list[str | None] | None
    problem: str | None = None


@dataclass
class ExportFile:
    """A checked export file: loaded rows (line number, stored values by column), rejects (line, reason, raw)."""

    path: Path
    kind: str
    export_date: date
    rows_in: int = 0
    loaded: list[tuple[int, dict]] = field(default_factory=list)
    rejects: list[tuple[int, str, str]] = field(default_factory=list)

    @property
    def source(self) -> str:
        return str(self.path.resolve())


class FailedFile(Exception):
    """The file fails as a batch (nothing of it loads)."""


def list_export_files(source: Path) -> list[Path]:
    """The export files of the folder (including those whose name carries no valid date), sorted."""
    return sorted(path for path in source.iterdir() if path.is_file() and EXPORT_NAME.fullmatch(path.name))


def export_date_of(path: Path) -> date:
    """The export date in the file's name; FailedFile when the name carries no valid date."""
    middle = EXPORT_NAME.fullmatch(path.name).group(2)
    match = NAME_DATE.fullmatch(middle)
    # Either separator form, but not a mix of the two (2026-1001).
    if match is None or middle.count("-") not in (0, 2):
        raise FailedFile(f"{path.name}: the name carries no valid date (expected YYYY-MM-DD or YYYYMMDD)")
    try:
        return date(*(int(part) for part in match.groups()))
    except ValueError:
        raise FailedFile(f"{path.name}: {middle} is not a real date") from None


def trimmed(value: str | None) -> str | None:
    """A value without surrounding whitespace; None when nothing is left."""
    if value is None:
        return None
    value = value.strip(WHITESPACE)
    return value or None


def physical_lines(path: Path) -> Iterator[str]:
    """The file's lines split at "\\n" only, each with its line end, decoded, without a leading BOM."""
    opener = gzip.open if path.name.endswith(".gz") else open
    with opener(path, "rb") as binary:
        first = True
        for line in binary:
            text = line.decode("utf-8", errors="replace")
            if first:
                text = text.removeprefix("\ufeff")
                first = False
            yield text


def without_line_end(line: str) -> str:
    if line.endswith("\r\n"):
        return line[:-2]
    return line[:-1] if line.endswith("\n") else line


def csv_records(path: Path) -> tuple[list[str], Iterator[Record]]:
    """The header's column names (as written) and the records after it, each with its first line's number."""
    consumed: list[str] = []

    def feed() -> Iterator[str]:
        for line in physical_lines(path):
            consumed.append(line)
            yield line

    reader = csv.reader(feed(), strict=False)
    lines_before = 0

    def next_record() -> tuple[int, str, list[str] | None, str | None] | None:
        nonlocal lines_before
        consumed.clear()
        problem = None
        try:
            fields = next(reader)
        except StopIteration:
            return None
        except csv.Error as error:  # e.g. a lone "\r" in an unquoted field
            fields, problem = None, f"unreadable CSV record: {error}"
        if fields is not None:  # the spec reads a line end inside a quoted field as "\n", like the lines around it
            fields = [field.replace("\r\n", "\n") for field in fields]
        start = lines_before + 1
        lines_before += len(consumed)
        raw = "\n".join(without_line_end(line) for line in consumed)
        return start, raw, fields, problem

    header = next_record()
    if header is None:
        return [], iter(())

    def records() -> Iterator[Record]:
        while (found := next_record()) is not None:
            start, raw, fields, problem = found
            yield Record(start, raw, fields, problem)

    return header[2] or [], records()


def text_form(value) -> str | None:
    """A Parquet value as text, the way the spec reads any column type."""
    if value is None:
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


def parquet_records(path: Path) -> tuple[list[str], Iterator[Record]]:
    """The column names and the rows, numbered from 1, raw as a JSON object."""
    file = parquet.ParquetFile(path)
    names = list(file.schema_arrow.names)

    def records() -> Iterator[Record]:
        number = 0
        for batch in file.iter_batches(batch_size=65_536):
            for row in batch.to_pylist():
                number += 1
                values = [text_form(row[name]) for name in names]
                raw = json.dumps(dict(zip(names, values, strict=True)), ensure_ascii=False)
                yield Record(number, raw, values)

    return names, records()


def header_problems(kind: str, names: list[str]) -> list[str]:
    """Missing and unexpected columns of a header (names already trimmed and lower-cased)."""
    expected = EXPORT_COLUMNS[kind]
    problems = [f"the file has no column '{column}'" for column in expected if column not in names]
    seen: list[str] = []
    for name in names:
        if name not in expected or name in seen:
            problems.append(f"unexpected column '{name}'")
        seen.append(name)
    return problems


def read_export_file(path: Path) -> ExportFile:
    """Read and check one export file: field rules, then uniqueness among the rows that pass them."""
    kind = EXPORT_NAME.fullmatch(path.name).group(1)
    export = ExportFile(path, kind, export_date_of(path))
    names, records = parquet_records(path) if path.name.endswith(".parquet") else csv_records(path)
    names = [name.strip(WHITESPACE).lower() for name in names]
    file_problem = "; ".join(header_problems(kind, names)) or None
    checker = ROW_CHECKS[kind]
    passing: list[tuple[int, dict, str]] = []
    for record in records:
        export.rows_in += 1
        if file_problem:
            export.rejects.append((record.line_number, file_problem, record.raw))
        elif record.raw.strip(WHITESPACE) == "" and not path.name.endswith(".parquet"):
            export.rejects.append((record.line_number, "blank line", record.raw))
        elif record.problem:
            export.rejects.append((record.line_number, record.problem, record.raw))
        elif len(record.fields) != len(names):
            export.rejects.append(
                (record.line_number, f"has {len(record.fields)} fields, the header has {len(names)}", record.raw)
            )
        else:
            values = {name: trimmed(value) for name, value in zip(names, record.fields, strict=True)}
            row, reasons = checker(values)
            if reasons:
                export.rejects.append((record.line_number, "; ".join(reasons), record.raw))
            else:
                passing.append((record.line_number, row, record.raw))

    keys = KEY_COLUMNS[kind]
    lines_of_key: dict[tuple, list[int]] = defaultdict(list)
    for line_number, row, _ in passing:
        lines_of_key[tuple(row[column] for column in keys)].append(line_number)
    for line_number, row, raw in passing:
        key = tuple(row[column] for column in keys)
        lines = lines_of_key[key]
        if len(lines) == 1:
            export.loaded.append((line_number, row))
        else:
            shown = "(" + ", ".join(repr(str(value)) for value in key) + ")" if len(keys) > 1 else repr(str(key[0]))
            where = ", ".join(str(line) for line in lines)
            name = keys[0] if len(keys) == 1 else "(" + ", ".join(keys) + ")"
            export.rejects.append(
                (line_number, f"{name} {shown} occurs {len(lines)} times in this file (lines {where})", raw)
            )
    export.rejects.sort()
    return export


# ------------------------------------------------------------------------------------------- field checks


def check_timestamp(column: str, value: str | None, reasons: list[str]) -> datetime | None:
    """The UTC instant of an ISO 8601 timestamp with an offset; None (and a reason) otherwise."""
    if value is None:
        reasons.append(f"{column} is missing")
        return None
    match = TIMESTAMP.fullmatch(value)
    if match is None:
        if TIMESTAMP_WITHOUT_OFFSET.fullmatch(value):
            reasons.append(f"{column} '{value}' has no UTC offset")
        else:
            reasons.append(f"{column} '{value}' is not an ISO 8601 timestamp with a UTC offset")
        return None
    part = {name: int(text) if text and text.isdigit() else text for name, text in match.groupdict().items()}
    offset_minutes = 0
    if not part["utc"]:
        hours, minutes = part["offset_hours"], part["offset_minutes"] or 0
        if hours > 14 or minutes > 59:
            reasons.append(f"{column} '{value}' has an impossible UTC offset")
            return None
        offset_minutes = (hours * 60 + minutes) * (-1 if part["sign"] == "-" else 1)
    fraction = match.group("fraction") or ""
    try:
        local = datetime(
            part["year"],
            part["month"],
            part["day"],
            part["hour"],
            part["minute"],
            part["second"] or 0,
            int(fraction.ljust(6, "0")) if fraction else 0,
            tzinfo=timezone(timedelta(minutes=offset_minutes)),
        )
    except ValueError:
        reasons.append(f"{column} '{value}' is not a real date and time")
        return None
    instant = local.astimezone(UTC)
    if not 1900 <= instant.year <= 2199:  # in UTC, so that version 1's 1900-01-01Z covers every order
        reasons.append(f"{column} '{value}' has a year outside 1900-2199")
        return None
    return instant


def check_date(column: str, value: str | None, reasons: list[str]) -> date | None:
    if value is None:
        reasons.append(f"{column} is missing")
        return None
    match = DATE.fullmatch(value)
    if match is None:
        reasons.append(f"{column} '{value}' is not a date YYYY-MM-DD")
        return None
    try:
        return date(*(int(part) for part in match.groups()))
    except ValueError:
        reasons.append(f"{column} '{value}' is not a real date")
        return None


def check_decimal(
    column: str, value: str | None, reasons: list[str], places: int, integer_digits: int
) -> Decimal | None:
    """A decimal in plain notation with at most `places` written decimals and a value below 10**integer_digits."""
    if value is None:
        reasons.append(f"{column} is missing")
        return None
    match = DECIMAL.fullmatch(value)
    if match is None:
        reasons.append(f"{column} '{value}' is not a decimal number")
        return None
    written_places = len(match.group(1)) - 1 if match.group(1) else 0
    number = Decimal(value)
    if written_places > places:
        reasons.append(f"{column} '{value}' has more than {places} decimal places")
        return None
    if abs(number) >= Decimal(10) ** integer_digits:
        reasons.append(f"{column} '{value}' has more than {integer_digits} integer digits")
        return None
    return number + 0  # -0 becomes 0


def check_code(column: str, value: str | None, reasons: list[str], codes: frozenset, what: str) -> str | None:
    if value is None:
        reasons.append(f"{column} is missing")
        return None
    if value.upper() not in codes:
        reasons.append(f"{column} '{value}' is not {what}")
        return None
    return value.upper()


def check_required(column: str, value: str | None, reasons: list[str]) -> str | None:
    if value is None:
        reasons.append(f"{column} is missing")
    return value


def check_customer(values: dict) -> tuple[dict, list[str]]:
    reasons: list[str] = []
    customer_id = check_required("customer_id", values["customer_id"], reasons)
    if customer_id is not None and len(customer_id) > MAX_CUSTOMER_ID_LENGTH:
        reasons.append(f"customer_id '{customer_id}' is longer than {MAX_CUSTOMER_ID_LENGTH} characters")
    name = check_required("name", values["name"], reasons)
    email = check_required("email", values["email"], reasons)
    if email is not None and not EMAIL.fullmatch(email):
        reasons.append(f"email '{email}' is not shaped like x@y.z")
    row = {
        "customer_id": customer_id,
        "name": name,
        "email": email,
        "country": check_code("country", values["country"], reasons, COUNTRIES, "an ISO 3166-1 alpha-2 code"),
        "segment": check_required("segment", values["segment"], reasons),
        "updated_at": check_timestamp("updated_at", values["updated_at"], reasons),
    }
    return row, reasons


def check_order(values: dict) -> tuple[dict, list[str]]:
    reasons: list[str] = []
    status = check_required("status", values["status"], reasons)
    if status is not None:
        if status.lower() in STATUSES:
            status = status.lower()
        else:
            reasons.append(f"status '{status}' is not one of {', '.join(STATUSES)}")
    row = {
        "order_id": check_required("order_id", values["order_id"], reasons),
        "customer_id": check_required("customer_id", values["customer_id"], reasons),
        "order_ts": check_timestamp("order_ts", values["order_ts"], reasons),
        "status": status,
        "currency": check_code("currency", values["currency"], reasons, CURRENCIES, "an active ISO 4217 code"),
        "updated_at": check_timestamp("updated_at", values["updated_at"], reasons),
    }
    return row, reasons


def check_whole_number(column: str, value: str | None, reasons: list[str], maximum: int, signed: bool) -> int | None:
    """An integer of digits only (with `signed`, a leading "-" is read, to be rejected as below 1), at least 1."""
    if value is None:
        reasons.append(f"{column} is missing")
        return None
    if not re.fullmatch(r"-?[0-9]+" if signed else r"[0-9]+", value):
        reasons.append(f"{column} '{value}' is not a whole number")
        return None
    number = int(value)
    if number < 1:
        reasons.append(f"{column} '{value}' must be at least 1")
        return None
    if number > maximum:
        reasons.append(f"{column} '{value}' is too large")
        return None
    return number


def check_order_line(values: dict) -> tuple[dict, list[str]]:
    reasons: list[str] = []
    unit_price = check_decimal("unit_price", values["unit_price"], reasons, places=4, integer_digits=14)
    if unit_price is not None and unit_price < 0:
        reasons.append(f"unit_price '{values['unit_price']}' is negative")
    row = {
        "order_id": check_required("order_id", values["order_id"], reasons),
        "line_no": check_whole_number("line_no", values["line_no"], reasons, MAX_INTEGER, signed=False),
        "sku": check_required("sku", values["sku"], reasons),
        "quantity": check_whole_number("quantity", values["quantity"], reasons, MAX_BIGINT, signed=True),
        "unit_price": unit_price,
    }
    return row, reasons


def check_fx_rate(values: dict) -> tuple[dict, list[str]]:
    reasons: list[str] = []
    currency = check_code("currency", values["currency"], reasons, CURRENCIES, "an active ISO 4217 code")
    rate = check_decimal("rate_to_usd", values["rate_to_usd"], reasons, places=10, integer_digits=8)
    if rate is not None and rate <= 0:
        reasons.append(f"rate_to_usd '{values['rate_to_usd']}' is not greater than 0")
    elif rate is not None and currency == "USD" and rate != 1:
        reasons.append(f"rate_to_usd '{values['rate_to_usd']}' is not 1 for USD")
    row = {"day": check_date("day", values["day"], reasons), "currency": currency, "rate_to_usd": rate}
    return row, reasons


ROW_CHECKS = {
    "customers": check_customer,
    "orders": check_order,
    "order_lines": check_order_line,
    "fx_rates": check_fx_rate,
}


# --------------------------------------------------------------------------------------------- the model


@dataclass
class Exports:
    """Every export file of a folder, checked; files that failed as batches with their errors."""

    files: list[ExportFile]
    failed: list[tuple[str, str]]

    def loaded_rows(self, kind: str) -> Iterator[tuple[tuple, dict]]:
        """(precedence, row) of every loaded row of a kind; a greater precedence is a later delivery."""
        for export in self.files:
            if export.kind == kind:
                for line_number, row in export.loaded:
                    yield (export.export_date, export.source, line_number), row


def read_exports(source: Path) -> Exports:
    files, failed = [], []
    for path in list_export_files(source):
        try:
            files.append(read_export_file(path))
        except FailedFile as error:
            failed.append((str(path.resolve()), str(error)))
    return Exports(files, failed)


def customer_key(customer_id: str, version: int) -> str:
    return hashlib.md5(f"{customer_id}#{version}".encode()).hexdigest()


def customer_versions(exports: Exports) -> dict[str, list[dict]]:
    """SCD2 versions per customer_id, oldest first, from the winning row of each (customer_id, updated_at)."""
    winners: dict[tuple[str, datetime], tuple[tuple, dict]] = {}
    for precedence, row in exports.loaded_rows("customers"):
        key = (row["customer_id"], row["updated_at"])
        if key not in winners or precedence > winners[key][0]:
            winners[key] = (precedence, row)
    rows_of_customer: dict[str, list[dict]] = defaultdict(list)
    for (customer_id, _), (_, row) in winners.items():
        rows_of_customer[customer_id].append(row)

    versions_of: dict[str, list[dict]] = {}
    for customer_id, rows in rows_of_customer.items():
        versions: list[dict] = []
        for row in sorted(rows, key=lambda row: row["updated_at"]):
            attributes = (row["name"], row["email"], row["country"], row["segment"])
            if versions and versions[-1]["attributes"] == attributes:
                continue  # collapses into the version it repeats
            versions.append({"attributes": attributes, "updated_at": row["updated_at"]})
        for number, version in enumerate(versions, start=1):
            version["version"] = number
            version["valid_from"] = START_OF_HISTORY if number == 1 else version["updated_at"]
        for version, following in zip(versions, [*versions[1:], None], strict=True):
            version["valid_to"] = following["valid_from"] if following else None
        versions_of[customer_id] = versions
    return versions_of


def key_at(versions: list[dict], customer_id: str, instant: datetime) -> str | None:
    """The key of the customer's version valid at `instant`."""
    for version in versions:
        if version["valid_from"] <= instant and (version["valid_to"] is None or instant < version["valid_to"]):
            return customer_key(customer_id, version["version"])
    return None


def rounded_usd(amount: Decimal, rate: Decimal | None) -> Decimal | None:
    """amount × rate rounded to cents, half away from zero (Decimal's ROUND_HALF_UP), computed exactly."""
    if rate is None:
        return None
    with localcontext() as context:
        context.prec = 100  # wide enough that the product is exact before the one rounding
        return (amount * rate).quantize(CENTS, rounding=ROUND_HALF_UP)


def null_last(row: tuple) -> tuple:
    """Sort key: values in order, NULL after every value."""
    return tuple((value is None, value) for value in row)


def expected_sales(source: Path) -> dict[str, list[tuple]]:
    """Every sales table, the rejects and the ledger, computed from the files in `source` by the spec."""
    exports = read_exports(source)

    fx_winners: dict[tuple[date, str], tuple[tuple, Decimal]] = {}
    for precedence, row in exports.loaded_rows("fx_rates"):
        key = (row["day"], row["currency"])
        if key not in fx_winners or precedence > fx_winners[key][0]:
            fx_winners[key] = (precedence, row["rate_to_usd"])
    fx_rates = {key: rate for key, (_, rate) in fx_winners.items()}

    order_winners: dict[str, tuple[tuple, dict]] = {}
    for precedence, row in exports.loaded_rows("orders"):
        rank = (row["updated_at"], precedence)
        if row["order_id"] not in order_winners or rank > order_winners[row["order_id"]][0]:
            order_winners[row["order_id"]] = (rank, row)
    orders = {order_id: row for order_id, (_, row) in order_winners.items()}

    # A later delivery of an order's lines replaces its whole set: keep the lines of the winning file only.
    line_sets: dict[str, tuple[tuple, list[dict]]] = {}
    for (export_date, source_path, _), row in exports.loaded_rows("order_lines"):
        delivery = (export_date, source_path)
        current = line_sets.get(row["order_id"])
        if current is None or delivery > current[0]:
            line_sets[row["order_id"]] = (delivery, [row])
        elif delivery == current[0]:
            current[1].append(row)
    lines_of = {order_id: rows for order_id, (_, rows) in line_sets.items()}

    versions_of = customer_versions(exports)
    dim_customer = []
    for customer_id, versions in versions_of.items():
        for version in versions:
            name, email, country, segment = version["attributes"]
            dim_customer.append(
                (
                    customer_key(customer_id, version["version"]),
                    customer_id,
                    version["version"],
                    name,
                    email,
                    country,
                    segment,
                    version["valid_from"],
                    version["valid_to"],
                    version is versions[-1],
                    False,
                    version["updated_at"],
                )
            )
    for customer_id in sorted({order["customer_id"] for order in orders.values()} - versions_of.keys()):
        versions_of[customer_id] = [{"version": 1, "valid_from": START_OF_HISTORY, "valid_to": None}]
        dim_customer.append(
            (customer_key(customer_id, 1), customer_id, 1, None, None, None, None, START_OF_HISTORY, None, True, True)
            + (None,)
        )

    fact_orders = []
    for order_id, order in orders.items():
        lines = lines_of.get(order_id, [])
        amount = sum((line["quantity"] * line["unit_price"] for line in lines), Decimal(0))
        order_day = order["order_ts"].date()
        rate = Decimal(1) if order["currency"] == "USD" else fx_rates.get((order_day, order["currency"]))
        fact_orders.append(
            (
                order_id,
                order["customer_id"],
                key_at(versions_of[order["customer_id"]], order["customer_id"], order["order_ts"]),
                order["order_ts"],
                order_day,
                order["status"],
                order["currency"],
                order["updated_at"],
                len(lines),
                sum(line["quantity"] for line in lines),
                amount.quantize(Decimal("0.0001")),
                rate,
                rounded_usd(amount, rate),
            )
        )
    order_facts = {row[0]: row for row in fact_orders}

    fact_order_lines = []
    for order_id, lines in lines_of.items():
        order = order_facts.get(order_id)
        for line in lines:
            fact_order_lines.append(
                (
                    order_id,
                    line["line_no"],
                    line["sku"],
                    line["quantity"],
                    line["unit_price"],
                    (line["quantity"] * line["unit_price"]).quantize(Decimal("0.0001")),
                    order[2] if order else None,
                    order[4] if order else None,
                )
            )

    revenue_orders = [row for row in fact_orders if row[5] in REVENUE_STATUSES]
    groups: dict[tuple[date, str], list[tuple]] = defaultdict(list)
    for row in revenue_orders:
        groups[(row[4], row[6])].append(row)
    daily_revenue = []
    for (day, currency), rows in groups.items():
        rate = rows[0][11]
        daily_revenue.append(
            (
                day,
                currency,
                len(rows),
                sum(row[9] for row in rows),
                sum((row[10] for row in rows), Decimal(0)),
                rate,
                None if rate is None else sum((row[12] for row in rows), Decimal(0)),
            )
        )

    by_customer: dict[str, list[tuple]] = defaultdict(list)
    for row in revenue_orders:
        by_customer[row[1]].append(row)
    customer_lifetime = []
    for customer_id, rows in by_customer.items():
        without_rate = sum(1 for row in rows if row[12] is None)
        customer_lifetime.append(
            (
                customer_id,
                min(row[4] for row in rows),
                max(row[4] for row in rows),
                len(rows),
                None if without_rate else sum((row[12] for row in rows), Decimal(0)),
                without_rate,
            )
        )

    tables = {
        "dim_customer": dim_customer,
        "fact_orders": fact_orders,
        "fact_order_lines": fact_order_lines,
        "fx_rates": [(day, currency, rate) for (day, currency), rate in fx_rates.items()],
        "daily_revenue": daily_revenue,
        "customer_lifetime": customer_lifetime,
    }
    result = {name: sorted((normalized(name, row) for row in rows), key=null_last) for name, rows in tables.items()}
    result["rejects"] = sorted((export.source, line) for export in exports.files for line, _, _ in export.rejects)
    result["batches"] = sorted(
        (export.source, export.rows_in, len(export.loaded), len(export.rejects)) for export in exports.files
    )
    result["failed_sources"] = sorted((source_path,) for source_path, _ in exports.failed)
    return result


def normalized(table: str, row: tuple) -> tuple:
    """A row with decimals at their column's scale and timestamps in UTC, as both sides are compared."""
    values = []
    for (column, _), value in zip(TABLES[table], row, strict=True):
        if isinstance(value, Decimal):
            value = value.quantize(Decimal(1).scaleb(-SCALES[column]))
        elif isinstance(value, datetime):
            value = value.astimezone(UTC)
        values.append(value)
    return tuple(values)


# ----------------------------------------------------------------------------------- the warehouse check


def describe_differences(table: str, expected: list[tuple], actual: list[tuple], shown: int = 5) -> str:
    """The first few rows that differ, matched on the table's identifying columns."""
    names = [column for column, _ in TABLES[table]]
    width = TABLE_KEYS[table]
    missing = Counter(expected) - Counter(actual)
    unexpected = Counter(actual) - Counter(expected)
    unexpected_by_key = {row[:width]: row for row in unexpected.elements()}
    lines = [f"sales.{table}: {sum(missing.values())} expected rows missing, {sum(unexpected.values())} unexpected"]
    for row in sorted(missing.elements(), key=null_last)[:shown]:
        other = unexpected_by_key.pop(row[:width], None)
        if other is None:
            lines.append(f"  missing  {dict(zip(names, row, strict=True))}")
        else:
            changed = {name: (want, got) for name, want, got in zip(names, row, other, strict=True) if want != got}
            lines.append(
                f"  differs  {dict(zip(names[:width], row[:width], strict=True))}: (expected, actual) {changed}"
            )
    for row in sorted(unexpected_by_key.values(), key=null_last)[:shown]:
        lines.append(f"  unexpected {dict(zip(names, row, strict=True))}")
    return "\n".join(lines)


def assert_sales_match_independent_computation(source: Path, warehouse: Path) -> None:
    """The warehouse's sales tables, the sales rejects and ledger equal the independent computation over `source`."""
    import duckdb  # only to read the warehouse back

    expected = expected_sales(source)
    problems = []
    with duckdb.connect(str(warehouse), read_only=True) as connection:
        for table, columns in TABLES.items():
            types = dict(
                connection.execute(
                    "select column_name, data_type from information_schema.columns "
                    "where table_schema = 'sales' and table_name = ?",
                    [table],
                ).fetchall()
            )
            wrong_types = {column: (kind, types.get(column)) for column, kind in columns if types.get(column) != kind}
            if wrong_types:
                problems.append(f"sales.{table}: columns with other types (expected, actual): {wrong_types}")
                continue
            column_list = ", ".join(f'"{column}"' for column, _ in columns)
            rows = connection.execute(f"select {column_list} from sales.{table}").fetchall()
            actual = sorted((normalized(table, row) for row in rows), key=null_last)
            if actual != expected[table]:
                problems.append(describe_differences(table, expected[table], actual))

        rejects = connection.execute(
            "select source, line_number from meta.rejects where pipeline = 'sales' order by source, line_number"
        ).fetchall()
        if rejects != expected["rejects"]:
            missing = sorted(set(expected["rejects"]) - set(rejects))[:10]
            unexpected = sorted(set(rejects) - set(expected["rejects"]))[:10]
            problems.append(f"meta.rejects: missing {missing}, unexpected {unexpected} (first 10 of each)")

        batches = connection.execute(
            "select source, rows_in, rows_loaded, rows_rejected from meta.batches "
            "where pipeline = 'sales' and status = 'loaded' order by source"
        ).fetchall()
        if batches != expected["batches"]:
            problems.append(
                "meta.batches (loaded): "
                f"missing {sorted(set(expected['batches']) - set(batches))}, "
                f"unexpected {sorted(set(batches) - set(expected['batches']))}"
            )
        failed = connection.execute(
            "select distinct source from meta.batches where pipeline = 'sales' and status = 'failed' order by source"
        ).fetchall()
        if not set(expected["failed_sources"]) <= set(failed):
            problems.append(
                f"meta.batches: no failed batch for {sorted(set(expected['failed_sources']) - set(failed))}"
            )
    assert not problems, "the warehouse differs from the independent computation:\n" + "\n".join(problems)
