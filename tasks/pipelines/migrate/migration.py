"""Migration: copying tables out of an operational database (a SQLite file, or PostgreSQL) into the warehouse.

Pure functions and small source readers; the warehouse side (checkpoints, one transaction per batch, the final
swap and the ledger) lives in checkpoints.py beside it, the copy and its verification in table_copy.py, the Prefect
tasks in steps.py.

- **Sources.** `open_source(url)` gives a `Source`: SQLite through the standard library (`sqlite:///PATH` or a plain
  file path, opened read-only), PostgreSQL through psycopg 3 (`postgresql://...`). Table and column names come from
  the source's catalogue and are quoted as identifiers; a name given by a person must be found there first.
- **Pages.** A table is read in keyset pages ordered by its key, `(a, b) > (?, ?)`, so a page costs the same at the
  end of a large table as at its start, and a checkpoint is just the last key copied.
- **Types.** Each column gets a DuckDB type (`map_postgres_column`, `map_sqlite_column`) and a conversion that
  checks every value against it (`convert_value`): SQLite does not enforce declared types, and PostgreSQL can hold
  values DuckDB cannot (NaN numerics, timestamps after 294247). A value that does not fit makes its row a reject,
  with a reason; it is never dropped or bent. Dates and times DuckDB holds but Python does not (BC, infinity,
  24:00:00) travel as DuckDB stores them (`WideTemporal`).
- **Checksums.** `row_digest` hashes a canonical text of a row; a table's checksum is the sum of its rows' digests
  modulo 2**64, so it does not depend on order and can be computed page by page on both sides.
"""

import hashlib
import json
import re
import sqlite3
import struct
import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime, timedelta
from datetime import time as time_of_day
from decimal import Context, Decimal, InvalidOperation
from functools import cache
from pathlib import Path
from typing import Protocol
from urllib.parse import quote, unquote

import pyarrow as pa

from tasks.core.errors import PermanentError
from tasks.core.quoting import quote_identifier
from tasks.pipelines import pipeline_of

PIPELINE = pipeline_of(__name__)
# Part of every table's fingerprint: a change to the conversions below, or to how the pipeline's other modules copy
# and write (the whole package is hashed), copies tables again rather than keeping a copy the new code would have
# made differently.
CODE_VERSION = hashlib.sha256(
    b"".join(path.read_bytes() for path in sorted(Path(__file__).parent.glob("*.py")))
).hexdigest()[:12]
DECIMAL_MAX_PRECISION = 38  # DuckDB's widest DECIMAL
COPY_SUFFIX = "__copying"  # the table a copy grows in, beside its target, until it is verified and swapped in


class MigrationRefused(PermanentError):
    """Bad input that no retry fixes: an unusable URL, an unknown table, a table without a usable key."""


class SourceError(Exception):
    """The source database failed while being read; its message has the URL's password masked."""


class VerificationFailed(PermanentError):
    """The warehouse copy does not match the source: row counts or checksums differ."""


# ------------------------------------------------------------------------------------------------------------------
# URLs and masking
#
# A PostgreSQL URL's password reaches nothing but the connection: logs, errors, the ledger and the warehouse see the
# masked URL (no password, no query); the flow run's `source` parameter sees the URL without its secrets. People paste
# passwords with `#`, `/`, `?` or `@` unescaped, which urlsplit reads as a fragment, a path or a query (and then fails
# on a "port" that is half the password, printing it), so the URL is split here: the user part ends at an `@` that is
# followed by a well-formed host part.

SECRET_PARAMETERS = ("password", "sslpassword", "oauth_client_secret", "scram_client_key", "scram_server_key")
PERCENT_ENCODE = "percent-encode the password (# is %23, / is %2F, ? is %3F, @ is %40, % is %25)"
_HOST = r"(?:\[[0-9A-Za-z:.%]+\]|[A-Za-z0-9._~%-]*)(?::[0-9]*)?"
_HOST_PART = re.compile(rf"(?P<hosts>{_HOST}(?:,{_HOST})*)(?:/(?P<database>[^/?#@]*))?(?:\?(?P<query>[^#]*))?")


@cache
def libpq_parameters() -> frozenset[str]:
    """The connection parameters libpq knows (a URL's query may set any of them)."""
    from psycopg import pq

    return frozenset(option.keyword.decode() for option in pq.Conninfo.get_defaults())


@dataclass(frozen=True)
class PostgresURL:
    """A PostgreSQL URL taken apart: its parts percent-decoded, `hosts` as `host[:port]` (host in lower case)."""

    scheme: str
    user: str | None
    password: str | None
    hosts: tuple[str, ...]
    database: str
    parameters: tuple[tuple[str, str], ...]  # the query's, in order
    spellings: tuple[str, ...]  # every secret as the URL spells it (percent-encoded or not)

    @property
    def secrets(self) -> tuple[str, ...]:
        """Every secret the URL carries, in every spelling a message could show, longest first."""
        found = {*self.spellings, self.password or ""}
        found |= {value for name, value in self.parameters if name in SECRET_PARAMETERS}
        found |= {quote(secret, safe="") for secret in set(found)} | {repr(secret)[1:-1] for secret in set(found)}
        return tuple(sorted((secret for secret in found if secret), key=len, reverse=True))

    def masked(self) -> str:
        """What people see: no password and no query; a user name keeps `:***` whether or not this URL carries the
        password, so that the same database always reads the same."""
        user = f"{quote(self.user, safe='')}:***@" if self.user else ""
        return f"{self.scheme}://{user}{','.join(self.hosts)}{self._path()}"

    def _path(self) -> str:
        return f"/{quote(self.database, safe='')}" if self.database else ""

    def without_secrets(self) -> str:
        """The URL for the flow run's parameters: no password, but the connection settings (sslmode, ...) it needs."""
        user = f"{quote(self.user, safe='')}@" if self.user else ""
        kept = [(name, value) for name, value in self.parameters if name not in SECRET_PARAMETERS]
        query = "?" + "&".join(f"{name}={quote(value, safe='')}" for name, value in kept) if kept else ""
        return f"{self.scheme}://{user}{','.join(self.hosts)}{self._path() or ('/' if query else '')}{query}"

    def conninfo(self) -> str:
        """The libpq connection string (built from the parts, so libpq never reads the URL again)."""
        from psycopg.conninfo import make_conninfo

        settings: dict[str, str] = {}
        hosts = [_split_host(host) for host in self.hosts]
        if any(host for host, _ in hosts):
            settings["host"] = ",".join(host for host, _ in hosts)
        if any(port for _, port in hosts):
            settings["port"] = ",".join(port for _, port in hosts)
        if self.database:
            settings["dbname"] = self.database
        if self.user:
            settings["user"] = self.user
        if self.password is not None:
            settings["password"] = self.password
        settings.update(self.parameters)
        return make_conninfo("", **settings)


def _split_host(host: str) -> tuple[str, str]:
    if host.startswith("["):
        address, _, port = host[1:].partition("]")
        return address, port.removeprefix(":")
    name, _, port = host.partition(":")
    return name, port


def parse_postgres_url(text: str) -> PostgresURL:
    """Take a `postgresql://` or `postgres://` URL apart, telling its user part from its host part even when the
    password holds unescaped `#`, `/`, `?` or `@`; raises MigrationRefused, never showing the password, when it
    cannot (two readings are possible) or the URL is malformed."""
    scheme, _, rest = text.partition("://")
    scheme = scheme.lower()
    refuse_unreadable = MigrationRefused(
        f"the source URL does not read as {scheme}://USER:PASSWORD@HOST:PORT/DATABASE?PARAMETER=VALUE (one way only, "
        f"with libpq's parameters): {PERCENT_ENCODE}"
    )
    # every `@` followed by a well-formed host part could end the user part (and, without one, the URL may have
    # none): one reading is taken as it is, several are refused rather than guessed at
    readings: list[tuple[str | None, str]] = [
        (rest[:index], rest[index + 1 :])
        for index, character in enumerate(rest)
        if character == "@" and _is_host_part(rest[index + 1 :])
    ]
    if _is_host_part(rest):
        readings.append((None, rest))
    if len(readings) != 1:
        raise refuse_unreadable
    ((userinfo, tail),) = readings
    match = _HOST_PART.fullmatch(tail)
    user = password = None
    spellings: list[str] = []
    if userinfo is not None:
        user_text, colon, password_text = userinfo.partition(":")
        user = unquote(user_text) or None
        if colon:
            password = unquote(password_text)
            spellings.append(password_text)
    parameters = []
    for pair in (match.group("query") or "").split("&"):
        if pair:
            name, _, value = pair.partition("=")
            parameters.append((name, unquote(value)))
            if name in SECRET_PARAMETERS:
                spellings.append(value)
    hosts = tuple(_normal_host(host) for host in match.group("hosts").split(",")) if match.group("hosts") else ()
    for host in hosts:
        port = _split_host(host)[1]
        if port and not 1 <= int(port) <= 65535:
            raise MigrationRefused(f"the source URL's port {port} is not a port (1 to 65535)")
    return PostgresURL(
        scheme, user, password, hosts, unquote(match.group("database") or ""), tuple(parameters), tuple(spellings)
    )


def _is_host_part(tail: str) -> bool:
    """Whether `tail` (the URL after its user part) reads `host[:port][,...][/database][?name=value&...]`, its
    query setting only libpq's parameters."""
    match = _HOST_PART.fullmatch(tail)
    if match is None:
        return False
    pairs = [pair for pair in (match.group("query") or "").split("&") if pair]
    return all("=" in pair and pair.split("=", 1)[0] in libpq_parameters() for pair in pairs)


def _normal_host(host: str) -> str:
    name, port = _split_host(host)
    port = str(int(port)) if port else ""
    name = f"[{name.lower()}]" if host.startswith("[") else name.lower()
    return f"{name}:{port}" if port else name


@dataclass(frozen=True)
class SourceURL:
    kind: str  # sqlite | postgresql
    location: str  # a file path for SQLite; the URL itself for PostgreSQL
    masked: str  # what logs, artifacts and the ledger show: no password, no query
    postgres: PostgresURL | None = None


def parse_source_url(text: str) -> SourceURL:
    """Recognise `sqlite:///PATH`, a plain file path, or `postgresql://` / `postgres://` URLs."""
    text = text.strip()
    if not text:
        raise MigrationRefused("the source is empty: give sqlite:///PATH, a file path, or postgresql://...")
    scheme = text.split("://", 1)[0].lower() if "://" in text else ""
    if scheme in ("postgresql", "postgres"):
        parsed = parse_postgres_url(text)
        if not parsed.hosts and not any(name in ("host", "hostaddr") for name, _ in parsed.parameters):
            raise MigrationRefused(f"source URL {parsed.masked()} names no host")
        return SourceURL("postgresql", text, parsed.masked(), parsed)
    if scheme == "sqlite":
        path = text[len("sqlite:///") :] if text.lower().startswith("sqlite:///") else ""
        if not path:
            raise MigrationRefused(
                f"source URL {text} names no file: write sqlite:///relative/path or sqlite:////abs/path"
            )
        path = unquote(path)
    elif scheme:
        raise MigrationRefused(
            f"source URL scheme {scheme!r} is not supported: give sqlite:///PATH, a file path, or postgresql://..."
        )
    else:
        path = text
    resolved = Path(path).expanduser().resolve()
    return SourceURL("sqlite", str(resolved), f"sqlite:///{resolved}")


def source_in_folder(source: str, folder: Path) -> str:
    """`source` with a relative SQLite file path (plain, or sqlite:///relative/path) taken in `folder`: a flow run
    takes it in the project folder of the machine that runs it, as its path parameters, and the command line in its
    working directory. A URL of another scheme, or an absolute path, is returned as it is."""
    text = source.strip()
    if text.lower().startswith("sqlite:///"):
        path = text[len("sqlite:///") :]
        if not path or Path(unquote(path)).expanduser().is_absolute():
            return source
        return f"sqlite:///{quote(str(folder))}/{path}"
    if "://" in text or not text or Path(text).expanduser().is_absolute():
        return source
    return str(folder / text)


def _is_postgres(url: str) -> bool:
    return "://" in url and url.strip().split("://", 1)[0].lower() in ("postgresql", "postgres")


def _postgres_url(url: str) -> PostgresURL | None:
    """The URL taken apart if it is a PostgreSQL URL that can be; None otherwise."""
    if not _is_postgres(url):
        return None
    try:
        return parse_postgres_url(url.strip())
    except MigrationRefused:
        return None


def mask_url(url: str) -> str:
    """The URL without its password and query; a PostgreSQL URL that cannot be taken apart shows only its scheme."""
    parsed = _postgres_url(url)
    if parsed is not None:
        return parsed.masked()
    if "://" in url and url.strip().split("://", 1)[0].lower() != "sqlite":
        return url.strip().split("://", 1)[0] + "://***"
    return url


def url_secrets(url: str) -> list[str]:
    """The secrets a URL carries, in every spelling that could appear in a message; for a URL that cannot be taken
    apart, everything after its scheme and every piece of it that could be a password."""
    if "://" not in url:
        return []
    parsed = _postgres_url(url)
    if parsed is not None:
        return list(parsed.secrets)
    rest = url.strip().split("://", 1)[1]
    if not rest or url.strip().lower().startswith("sqlite:"):
        return []
    pieces = {rest, *(rest[:index] for index, character in enumerate(rest) if character == "@")}
    pieces |= {piece.partition(":")[2] for piece in set(pieces)} | {unquote(piece) for piece in pieces}
    return sorted((piece for piece in pieces if piece), key=len, reverse=True)


def redact(text: str, url: str) -> str:
    """`text` with the URL and its passwords replaced by the masked URL and `***`."""
    text = text.replace(url, mask_url(url))
    if url.strip() != url:
        text = text.replace(url.strip(), mask_url(url))
    for secret in url_secrets(url):
        text = text.replace(secret, "***")
    return text


def url_without_password(url: str) -> tuple[str, str | None]:
    """Take the password out of a PostgreSQL URL (to hand it over in PGPASSWORD instead, so that it never reaches the
    Prefect flow run's parameters); returns the URL without secrets (connection settings such as sslmode kept), and
    the password or None. Refuses secrets that have no environment variable (sslpassword, ...), and two passwords."""
    if not _is_postgres(url):
        return url, None
    parsed = parse_postgres_url(url.strip())
    other = sorted({name for name, _ in parsed.parameters if name in SECRET_PARAMETERS and name != "password"})
    if other:
        raise MigrationRefused(
            f"the source URL sets {', '.join(other)}, which would be stored with the flow run: give it in a "
            f"connection service file (PGSERVICEFILE, service=NAME) instead"
        )
    passwords = {value for name, value in parsed.parameters if name == "password"}
    if parsed.password is not None:
        passwords.add(parsed.password)
    if len(passwords) > 1:
        raise MigrationRefused("the source URL gives two different passwords (after the user name and as password=)")
    return parsed.without_secrets(), next(iter(passwords), None)


# ------------------------------------------------------------------------------------------------------------------
# Type mapping


@dataclass(frozen=True)
class ColumnPlan:
    """How one source column is copied: its DuckDB type, and the conversion that checks each value against it."""

    name: str
    source_type: str  # as the source declares it
    target_type: str  # DuckDB
    kind: str  # integer | decimal | double | float | boolean | text | blob | date | timestamp | timestamptz |
    #            time | uuid | json | text_form (anything else, as the source's text)
    bits: int = 0  # integer width
    precision: int = 0
    scale: int = 0
    select_as_text: bool = False  # PostgreSQL: read the column's text form (json, and types DuckDB has no peer for)


INTEGER_TYPES = {16: "SMALLINT", 32: "INTEGER", 64: "BIGINT"}


def integer_column(name: str, source_type: str, bits: int) -> ColumnPlan:
    return ColumnPlan(name, source_type, INTEGER_TYPES[bits], "integer", bits=bits)


def decimal_column(name: str, source_type: str, precision: int, scale: int) -> ColumnPlan:
    if not 0 <= scale <= precision <= DECIMAL_MAX_PRECISION or precision < 1:
        # wider than DuckDB's DECIMAL, or a negative scale (PostgreSQL 15): the exact text is kept instead
        return ColumnPlan(name, source_type, "VARCHAR", "text_form", select_as_text=True)
    return ColumnPlan(name, source_type, f"DECIMAL({precision},{scale})", "decimal", precision=precision, scale=scale)


@dataclass(frozen=True)
class NumericShape:
    """What the values of an unconstrained numeric column need: digits before and after the decimal point."""

    integer_digits: int
    scale: int


def unconstrained_decimal(name: str, source_type: str, shape: NumericShape) -> ColumnPlan:
    """DECIMAL(38, s) with s the largest scale among the values, when every value fits in it; VARCHAR (the exact
    text) otherwise. Never DOUBLE: that would round."""
    if shape.integer_digits + shape.scale <= DECIMAL_MAX_PRECISION:
        return decimal_column(name, source_type, DECIMAL_MAX_PRECISION, shape.scale)
    return ColumnPlan(name, source_type, "VARCHAR", "text_form", select_as_text=True)


SIMPLE_KINDS = {
    "double": "DOUBLE",
    "float": "FLOAT",
    "boolean": "BOOLEAN",
    "text": "VARCHAR",
    "blob": "BLOB",
    "date": "DATE",
    "timestamp": "TIMESTAMP",
    "timestamptz": "TIMESTAMPTZ",
    "time": "TIME",
    "uuid": "UUID",
    "json": "JSON",
    "text_form": "VARCHAR",
}


def simple_column(name: str, source_type: str, kind: str, select_as_text: bool = False) -> ColumnPlan:
    return ColumnPlan(name, source_type, SIMPLE_KINDS[kind], kind, select_as_text=select_as_text)


POSTGRES_KINDS = {
    "float4": "float",
    "float8": "double",
    "bool": "boolean",
    "text": "text",
    "varchar": "text",
    "bpchar": "text",
    "name": "text",
    "citext": "text",
    "bytea": "blob",
    "date": "date",
    "timestamp": "timestamp",
    "timestamptz": "timestamptz",
    "time": "time",
    "uuid": "uuid",
}


def map_postgres_column(
    name: str, declared: str, base_type: str, type_modifier: int, numeric_shape: NumericShape | None = None
) -> ColumnPlan:
    """A PostgreSQL column (`base_type` is pg_type.typname after resolving domains, `type_modifier` its atttypmod)
    to its DuckDB type. Types DuckDB has no peer for (intervals, arrays, enums, network addresses, time with time
    zone, ...) are copied as their PostgreSQL text form into VARCHAR."""
    if base_type in ("int2", "int4", "int8"):
        return integer_column(name, declared, {"int2": 16, "int4": 32, "int8": 64}[base_type])
    if base_type == "numeric":
        if type_modifier >= 4:
            # atttypmod packs precision and scale as ((precision << 16) | scale) + 4; the scale is 11-bit signed
            packed = type_modifier - 4
            scale = packed & 0x7FF
            scale = scale - 0x800 if scale & 0x400 else scale
            return decimal_column(name, declared, (packed >> 16) & 0xFFFF, scale)
        if numeric_shape is None:
            raise ValueError(f"column {name} is an unconstrained numeric: its values' shape is needed")
        return unconstrained_decimal(name, declared, numeric_shape)
    if base_type in ("json", "jsonb"):
        return simple_column(name, declared, "json", select_as_text=True)
    if base_type in POSTGRES_KINDS:
        return simple_column(name, declared, POSTGRES_KINDS[base_type])
    return simple_column(name, declared, "text_form", select_as_text=True)


SQLITE_DECIMAL = re.compile(r"^(?:DECIMAL|NUMERIC)\s*\(\s*(\d+)\s*(?:,\s*(\d+)\s*)?\)$")


def map_sqlite_column(name: str, declared: str, numeric_shape: NumericShape | None = None) -> ColumnPlan:
    """A SQLite column to a DuckDB type by its declared type: first the names that say what the values mean (BOOLEAN,
    DATE, DATETIME, TIMESTAMPTZ, DECIMAL(p,s), UUID, JSON), then SQLite's own affinity rules (INT, CHAR/CLOB/TEXT,
    BLOB, REAL/FLOA/DOUB). A column without a declared type, or of NUMERIC affinity under another name, keeps the
    text form of its values."""
    upper = " ".join(declared.upper().split())
    if upper in ("BOOLEAN", "BOOL"):
        return simple_column(name, declared, "boolean")
    if upper == "DATE":
        return simple_column(name, declared, "date")
    if upper in ("DATETIME", "TIMESTAMP", "TIMESTAMP WITHOUT TIME ZONE"):
        return simple_column(name, declared, "timestamp")
    if upper in ("TIMESTAMPTZ", "TIMESTAMP WITH TIME ZONE", "DATETIMETZ"):
        return simple_column(name, declared, "timestamptz")
    if upper == "TIME":
        return simple_column(name, declared, "time")
    if upper == "UUID":
        return simple_column(name, declared, "uuid")
    if upper in ("JSON", "JSONB"):
        return simple_column(name, declared, "json")
    if match := SQLITE_DECIMAL.match(upper):
        return decimal_column(name, declared, int(match.group(1)), int(match.group(2) or 0))
    if upper in ("DECIMAL", "NUMERIC"):
        if numeric_shape is None:
            raise ValueError(f"column {name} is an unconstrained numeric: its values' shape is needed")
        return unconstrained_decimal(name, declared, numeric_shape)
    # SQLite's affinity rules, in its order (https://www.sqlite.org/datatype3.html, 3.1)
    if "INT" in upper:
        return integer_column(name, declared, 64)  # SQLite integers are 64-bit whatever the declared name
    if any(word in upper for word in ("CHAR", "CLOB", "TEXT")):
        return simple_column(name, declared, "text")
    if "BLOB" in upper:
        return simple_column(name, declared, "blob")
    if any(word in upper for word in ("REAL", "FLOA", "DOUB")):
        return simple_column(name, declared, "double")
    return simple_column(name, declared, "text_form")


def sqlite_needs_numeric_shape(declared: str) -> bool:
    return " ".join(declared.upper().split()) in ("DECIMAL", "NUMERIC")


def arrow_type(column: ColumnPlan) -> pa.DataType:
    if column.kind == "integer":
        return {16: pa.int16(), 32: pa.int32(), 64: pa.int64()}[column.bits]
    if column.kind == "decimal":
        return pa.decimal128(column.precision, column.scale)
    return {
        "double": pa.float64(),
        "float": pa.float32(),
        "boolean": pa.bool_(),
        "blob": pa.binary(),
        "date": pa.date32(),
        "timestamp": pa.timestamp("us"),
        "timestamptz": pa.timestamp("us", tz="UTC"),
        "time": pa.time64("us"),
    }.get(column.kind, pa.string())  # text, json, uuid and text forms travel as text; DuckDB casts on insert


# ------------------------------------------------------------------------------------------------------------------
# Value conversion


# Wide enough for any DECIMAL(38, s) value and then some, so that quantize never rounds silently.
DECIMAL_CONTEXT = Context(prec=80)


class Unrepresentable(Exception):
    """A value that does not fit its column's type; its message is the reject's reason."""


@dataclass(frozen=True)
class SourceText:
    """A value the source driver could not turn into a Python value, as its text (and why, for the reject)."""

    text: str
    why: str = "it has no Python or DuckDB equivalent"


# DuckDB stores a DATE as days since 1970-01-01 (int32) and TIME, TIMESTAMP and TIMESTAMPTZ as microseconds (since
# midnight; since 1970-01-01 UTC) in an int64, whose largest value (and its negative) mean infinity. It holds
# 24:00:00, years before 1 and after 9999, and infinity; Python's datetime holds none of them.
DATE_INFINITY = 2**31 - 1
TIMESTAMP_INFINITY = 2**63 - 1
DAY_MICROSECONDS = 86_400_000_000
EPOCH = date(1970, 1, 1)
PYTHON_DAYS = ((date.min - EPOCH).days, (date.max - EPOCH).days)
PYTHON_MICROSECONDS = (PYTHON_DAYS[0] * DAY_MICROSECONDS, (PYTHON_DAYS[1] + 1) * DAY_MICROSECONDS - 1)


@dataclass(frozen=True)
class WideTemporal:
    """A date or time that DuckDB holds but Python's datetime cannot (a year before 1 or after 9999, infinity, the
    time 24:00:00), as DuckDB stores it; `text` is the source's own spelling, to send back to it as a page bound."""

    kind: str  # date | time | timestamp | timestamptz
    units: int  # days since 1970-01-01 for a date, microseconds otherwise
    text: str = field(default="", compare=False)

    def __str__(self) -> str:
        return temporal_text(self.kind, self.units)


def days_from_civil(year: int, month: int, day: int) -> int:
    """Days since 1970-01-01 of a proleptic Gregorian date of any astronomical year (1 BC is year 0)."""
    year -= month <= 2
    era = year // 400
    year_of_era = year - era * 400
    day_of_year = (153 * (month + (-3 if month > 2 else 9)) + 2) // 5 + day - 1
    day_of_era = year_of_era * 365 + year_of_era // 4 - year_of_era // 100 + day_of_year
    return era * 146097 + day_of_era - 719468


def civil_from_days(days: int) -> tuple[int, int, int]:
    """The proleptic Gregorian (astronomical year, month, day) of a day counted from 1970-01-01."""
    days += 719468
    era = days // 146097
    day_of_era = days - era * 146097
    year_of_era = (day_of_era - day_of_era // 1460 + day_of_era // 36524 - day_of_era // 146096) // 365
    day_of_year = day_of_era - (365 * year_of_era + year_of_era // 4 - year_of_era // 100)
    month_index = (5 * day_of_year + 2) // 153
    day = day_of_year - (153 * month_index + 2) // 5 + 1
    month = month_index + 3 if month_index < 10 else month_index - 9
    return year_of_era + era * 400 + (month <= 2), month, day


def temporal_text(kind: str, units: int) -> str:
    """One text per DuckDB date or time value, Python's range or not: ISO 8601 with astronomical years (-0043 is
    44 BC), `infinity`, `24:00:00`; instants in UTC."""
    if kind == "time":
        seconds, micros = divmod(units, 1_000_000)
        text = f"{seconds // 3600:02d}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"
        return text + (f".{micros:06d}" if micros else "")
    infinity = DATE_INFINITY if kind == "date" else TIMESTAMP_INFINITY
    if abs(units) == infinity:
        return "infinity" if units > 0 else "-infinity"
    days, micros = (units, 0) if kind == "date" else divmod(units, DAY_MICROSECONDS)
    year, month, day = civil_from_days(days)
    text = f"{'-' if year < 0 else ''}{abs(year):04d}-{month:02d}-{day:02d}"
    if kind == "date":
        return text
    return f"{text}T{temporal_text('time', micros)}" + ("+00:00" if kind == "timestamptz" else "")


POSTGRES_TEMPORAL = re.compile(
    r"(?P<year>\d{4,})-(?P<month>\d\d)-(?P<day>\d\d)"
    r"(?: (?P<hour>\d\d):(?P<minute>\d\d):(?P<second>\d\d)(?:\.(?P<fraction>\d{1,6}))?)?"
    r"(?P<offset>[+-]\d\d(?::?\d\d){0,2})?(?P<bc> BC)?"
)
POSTGRES_TIME = re.compile(r"(\d\d):(\d\d):(\d\d)(?:\.(\d{1,6}))?")


def postgres_temporal(kind: str, text: str) -> WideTemporal | SourceText:
    """A PostgreSQL date or time in its ISO text form (datestyle ISO, time zone UTC) that Python cannot hold, as the
    value DuckDB stores, or SourceText when DuckDB cannot hold it either."""
    if text in ("infinity", "-infinity") and kind != "time":
        infinity = DATE_INFINITY if kind == "date" else TIMESTAMP_INFINITY
        return WideTemporal(kind, infinity if text == "infinity" else -infinity, text)
    if kind == "time":
        match = POSTGRES_TIME.fullmatch(text)
        if match is None:
            return SourceText(text, "not a time PostgreSQL would print")
        hour, minute, second, fraction = match.groups()
        units = ((int(hour) * 60 + int(minute)) * 60 + int(second)) * 1_000_000 + int((fraction or "").ljust(6, "0"))
        if units > DAY_MICROSECONDS:
            return SourceText(text, "after 24:00:00")
        return WideTemporal(kind, units, text)
    match = POSTGRES_TEMPORAL.fullmatch(text)
    if match is None or (kind == "date") != (match["hour"] is None):
        return SourceText(text, f"not a {kind} PostgreSQL would print")
    year = int(match["year"])
    days = days_from_civil(1 - year if match["bc"] else year, int(match["month"]), int(match["day"]))
    if kind == "date":
        return WideTemporal(kind, days, text)  # PostgreSQL's dates (4713 BC to 5874897) are all inside DuckDB's
    offset_seconds = 0
    if match["offset"]:
        sign = -1 if match["offset"][0] == "-" else 1
        parts = [int(part) for part in re.findall(r"\d\d", match["offset"])]
        offset_seconds = sign * sum(part * 60**power for part, power in zip(parts, (2, 1, 0), strict=False))
    seconds = (int(match["hour"]) * 60 + int(match["minute"])) * 60 + int(match["second"]) - offset_seconds
    units = days * DAY_MICROSECONDS + seconds * 1_000_000 + int((match["fraction"] or "").ljust(6, "0"))
    if not -TIMESTAMP_INFINITY < units < TIMESTAMP_INFINITY:
        return SourceText(text, "outside DuckDB's range, 290309 BC to 294247-01-10 04:00:54.775806")
    return WideTemporal(kind, units, text)


def temporal_units(kind: str, value: object) -> int | None:
    """A date or time value (Python's, or a WideTemporal) as DuckDB stores it: what its Arrow column holds."""
    if value is None:
        return None
    if isinstance(value, WideTemporal):
        return value.units
    if kind == "date":
        return (value - EPOCH).days
    if kind == "time":
        return ((value.hour * 60 + value.minute) * 60 + value.second) * 1_000_000 + value.microsecond
    epoch = datetime(1970, 1, 1, tzinfo=UTC if kind == "timestamptz" else None)
    return (value - epoch) // timedelta(microseconds=1)


ARROW_TEMPORAL_KINDS = {"date32[day]": "date", "time64[us]": "time", "timestamp[us]": "timestamp"}


def arrow_column_values(column: pa.Array | pa.ChunkedArray) -> list:
    """A column read from DuckDB through Arrow as Python values, like `to_pylist()`, except that a date or time
    Python's datetime cannot hold (which to_pylist refuses, or turns 24:00:00 into 00:00:00) is a WideTemporal."""
    kind = "timestamptz" if pa.types.is_timestamp(column.type) and column.type.tz else None
    kind = kind or ARROW_TEMPORAL_KINDS.get(str(column.type))
    if kind is None:
        return column.to_pylist()
    low, high = PYTHON_DAYS if kind == "date" else (0, DAY_MICROSECONDS - 1) if kind == "time" else PYTHON_MICROSECONDS
    units = column.cast(pa.int32() if kind == "date" else pa.int64()).to_pylist()
    values = []
    for unit in units:
        if unit is None:
            values.append(None)
        elif not low <= unit <= high:
            values.append(WideTemporal(kind, unit))
        elif kind == "date":
            values.append(EPOCH + timedelta(days=unit))
        elif kind == "time":
            seconds, micros = divmod(unit, 1_000_000)
            values.append(time_of_day(seconds // 3600, seconds // 60 % 60, seconds % 60, micros))
        else:
            instant = datetime(1970, 1, 1, tzinfo=UTC if kind == "timestamptz" else None)
            values.append(instant + timedelta(microseconds=unit))
    return values


DATE_TEXT = re.compile(r"^\d{4}-\d{2}-\d{2}$")
TIMESTAMP_TEXT = re.compile(r"^\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}(:\d{2}(\.\d{1,6})?)?$")
TIMESTAMPTZ_TEXT = re.compile(r"^\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}(:\d{2}(\.\d{1,6})?)?(Z|[+-]\d{2}(:?\d{2})?)$")
TIME_TEXT = re.compile(r"^\d{2}:\d{2}(:\d{2}(\.\d{1,6})?)?$")
UUID_TEXT = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")


def describe_value(value: object) -> str:
    """A value as a person reads it in a reject reason."""
    if isinstance(value, SourceText):
        return repr(value.text)
    if isinstance(value, WideTemporal):
        return repr(str(value))
    if isinstance(value, bytes):
        return f"a {len(value)}-byte BLOB"
    if isinstance(value, float):
        return repr(value)
    text = repr(value) if isinstance(value, str) else str(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _refuse(value: object, column: ColumnPlan, why: str = "") -> Unrepresentable:
    because = f" ({why})" if why else ""
    return Unrepresentable(f"{column.name}: {describe_value(value)} is not a valid {column.target_type}{because}")


def convert_value(column: ColumnPlan, value: object) -> object:
    """`value` as the Python value of its DuckDB column; raises Unrepresentable, with the reason, when it does not
    fit exactly. Accepts what SQLite stores (int, float, str, bytes under any declared type) and what psycopg
    returns for the PostgreSQL types mapped above."""
    if value is None:
        return None
    if isinstance(value, SourceText):
        raise _refuse(value, column, value.why)
    if isinstance(value, WideTemporal):
        if value.kind != column.kind:
            raise _refuse(value, column, f"a {value.kind} value")
        return value
    converter = CONVERTERS[column.kind]
    return converter(column, value)


def _to_integer(column: ColumnPlan, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise _refuse(value, column, "not an integer")
    limit = 1 << (column.bits - 1)
    if not -limit <= value < limit:
        raise _refuse(value, column, "out of range")
    return value


def _to_decimal(column: ColumnPlan, value: object) -> Decimal:
    if isinstance(value, bool):
        raise _refuse(value, column)
    if isinstance(value, int):
        number = Decimal(value)
    elif isinstance(value, float):
        number = Decimal(repr(value))  # the shortest decimal that is this double: what the writer meant
    elif isinstance(value, Decimal):
        number = value
    elif isinstance(value, str):
        try:
            number = Decimal(value.strip()) if value.strip() else None
        except InvalidOperation:
            number = None
        if number is None:
            raise _refuse(value, column, "not a number")
    else:
        raise _refuse(value, column)
    if not number.is_finite():
        raise _refuse(value, column, "not a finite number")
    quantum = Decimal(1).scaleb(-column.scale)
    try:
        exact = number.quantize(quantum, context=DECIMAL_CONTEXT)
    except InvalidOperation:
        raise _refuse(value, column, "too many digits") from None
    if exact != number:
        raise _refuse(value, column, f"more than {column.scale} decimal places")
    if len(exact.as_tuple().digits) > column.precision and exact != 0:
        raise _refuse(value, column, f"more than {column.precision} digits")
    return exact.copy_abs() if exact.is_zero() else exact


def _to_double(column: ColumnPlan, value: object) -> float:
    if isinstance(value, bool):
        raise _refuse(value, column)
    if isinstance(value, float):
        number = value
    elif isinstance(value, int):
        number = float(value)
        if int(number) != value:
            raise _refuse(value, column, "a double cannot hold this integer exactly")
    elif isinstance(value, Decimal):  # not produced by the mappings above; kept exact or refused
        number = float(value)
        if Decimal(repr(number)) != value:
            raise _refuse(value, column, "a double cannot hold it exactly")
    else:
        raise _refuse(value, column, "not a number")
    if column.kind == "float":
        # a 4-byte float: PostgreSQL prints a real in its shortest form, which is exactly this single-precision value
        (number,) = struct.unpack("f", struct.pack("f", number))
    return number


def _to_boolean(column: ColumnPlan, value: object) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):  # SQLite stores TRUE and FALSE as 1 and 0
        return bool(value)
    raise _refuse(value, column, "booleans are 0 or 1")


def _to_text(column: ColumnPlan, value: object) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise _refuse(value, column, "not text")
    return repr(value) if isinstance(value, float) else str(value)


def _to_blob(column: ColumnPlan, value: object) -> bytes:
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value)
    raise _refuse(value, column, "not bytes")


def _to_date(column: ColumnPlan, value: object) -> date:
    if isinstance(value, date) and not isinstance(value, datetime):
        return value
    if isinstance(value, str) and DATE_TEXT.match(value):
        try:
            return date.fromisoformat(value)
        except ValueError:
            raise _refuse(value, column, "no such day") from None
    raise _refuse(value, column, "dates are written YYYY-MM-DD")


def _to_timestamp(column: ColumnPlan, value: object) -> datetime:
    if isinstance(value, datetime):
        if value.tzinfo is not None:
            raise _refuse(value, column, "it carries a UTC offset")
        return value
    if isinstance(value, str) and TIMESTAMP_TEXT.match(value):
        try:
            return datetime.fromisoformat(value)
        except ValueError:
            raise _refuse(value, column, "no such time") from None
    raise _refuse(value, column, "timestamps are written YYYY-MM-DD HH:MM:SS[.ffffff] without an offset")


def _to_timestamptz(column: ColumnPlan, value: object) -> datetime:
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise _refuse(value, column, "no UTC offset")
        return value.astimezone(UTC)
    if isinstance(value, str) and TIMESTAMPTZ_TEXT.match(value):
        try:
            return datetime.fromisoformat(value).astimezone(UTC)
        except ValueError:
            raise _refuse(value, column, "no such time") from None
    raise _refuse(value, column, "written YYYY-MM-DD HH:MM:SS[.ffffff]±HH:MM or with Z; an instant needs its offset")


def _to_time(column: ColumnPlan, value: object) -> time_of_day:
    if isinstance(value, time_of_day):
        return value
    if isinstance(value, str) and TIME_TEXT.match(value):
        try:
            return time_of_day.fromisoformat(value)
        except ValueError:
            raise _refuse(value, column, "no such time of day") from None
    raise _refuse(value, column, "times are written HH:MM[:SS[.ffffff]]")


def _to_uuid(column: ColumnPlan, value: object) -> str:
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, str) and UUID_TEXT.match(value):
        return str(uuid.UUID(value))
    raise _refuse(value, column, "UUIDs are written as 8-4-4-4-12 hex digits")


def _to_json(column: ColumnPlan, value: object) -> str:
    if not isinstance(value, str):
        raise _refuse(value, column, "not JSON text")
    try:
        json.loads(value)
    except ValueError:
        raise _refuse(value, column, "not valid JSON") from None
    return value


def _to_text_form(column: ColumnPlan, value: object) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, (bytes, bytearray, memoryview)):
        raise _refuse(value, column, "bytes have no text form")
    return repr(value) if isinstance(value, float) else str(value)


CONVERTERS = {
    "integer": _to_integer,
    "decimal": _to_decimal,
    "double": _to_double,
    "float": _to_double,
    "boolean": _to_boolean,
    "text": _to_text,
    "blob": _to_blob,
    "date": _to_date,
    "timestamp": _to_timestamp,
    "timestamptz": _to_timestamptz,
    "time": _to_time,
    "uuid": _to_uuid,
    "json": _to_json,
    "text_form": _to_text_form,
}


# ------------------------------------------------------------------------------------------------------------------
# Canonical rows and checksums


def canonical_value(value: object) -> str | None:
    """One text per value, the same whichever side (source driver, Python conversion, DuckDB through Arrow) it
    comes from: instants in UTC, decimals without a negative zero, bytes in hex."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, Decimal):
        return str(value.copy_abs() if value.is_zero() else value)
    if isinstance(value, datetime):
        return (value.astimezone(UTC) if value.tzinfo is not None else value).isoformat()
    if isinstance(value, (date, time_of_day)):
        return value.isoformat()
    if isinstance(value, (bytes, bytearray, memoryview)):
        return "\\x" + bytes(value).hex()
    if isinstance(value, SourceText):
        return value.text
    return str(value)  # WideTemporal too: its temporal_text


def canonical_row(values: Sequence[object]) -> str:
    """A copied row's canonical text: a JSON list, so that no two different rows read the same."""
    return json.dumps([canonical_value(value) for value in values], ensure_ascii=False)


def raw_row_text(columns: Sequence[ColumnPlan], values: Sequence[object]) -> str:
    """A rejected row as kept in meta.rejects: a JSON object of column to the source's value."""
    return json.dumps(
        {column.name: canonical_value(value) for column, value in zip(columns, values, strict=True)},
        ensure_ascii=False,
    )


def row_digest(text: str) -> int:
    return int.from_bytes(hashlib.blake2b(text.encode(), digest_size=8).digest(), "big")


@dataclass
class Checksum:
    """Rows counted and the sum of their digests modulo 2**64: order does not matter, pages can be added up."""

    rows: int = 0
    total: int = 0

    def add(self, text: str) -> None:
        self.rows += 1
        self.total = (self.total + row_digest(text)) % (1 << 64)

    def __str__(self) -> str:
        return f"{self.rows} rows, checksum {self.total:016x}"


# ------------------------------------------------------------------------------------------------------------------
# Plans and pages


@dataclass(frozen=True)
class TablePlan:
    """One table to copy: where from, where to, its key, and each column's mapping."""

    source: str  # the ledger's source: masked URL + "#" + source table
    source_table: str  # as shown: `orders` for SQLite, `public.orders` for PostgreSQL
    source_names: tuple[str, ...]  # the catalogue's names: (table,) or (schema, table), quoted when used
    target_schema: str
    target_name: str
    key: tuple[str, ...]
    key_declared: bool  # the source's primary key (unique and not null by its own rules); False: given by --key
    columns: tuple[ColumnPlan, ...]
    key_types: tuple[str, ...] = ()  # PostgreSQL: each key column's type, to cast the page's lower bound to

    @property
    def target_table(self) -> str:
        return f"{self.target_schema}.{self.target_name}"

    @property
    def description(self) -> str:
        return f"{self.source_table} -> {self.target_table}"

    def as_json(self) -> str:
        """The plan as the checkpoint keeps it: a resumed copy goes on only under the same plan."""
        return json.dumps(asdict(self), sort_keys=True)

    @property
    def version(self) -> str:
        return hashlib.sha256(f"{self.as_json()}\n{CODE_VERSION}".encode()).hexdigest()[:12]


def fingerprint(plan: TablePlan, checksum: Checksum) -> str:
    """A table's content fingerprint for the ledger: the source's row count and checksum under this plan and code."""
    return f"rows={checksum.rows} checksum={checksum.total:016x} plan={plan.version}"


@dataclass(frozen=True)
class Reject:
    position: int  # the row's place in key order, from 1
    raw: str
    reason: str


@dataclass
class ConvertedPage:
    """One page of source rows after conversion: the good rows (as Python values), the rejects, the last key."""

    rows: list[tuple]
    rejects: list[Reject]
    last_key: tuple | None
    rows_read: int = 0

    def arrow_table(self, plan: TablePlan) -> pa.Table:
        """The good rows as an Arrow table with the plan's explicit schema, for DuckDB to insert by name."""
        schema = pa.schema([pa.field(column.name, arrow_type(column)) for column in plan.columns])
        columns = list(zip(*self.rows, strict=True)) if self.rows else [() for _ in plan.columns]
        arrays = []
        for column, values in zip(plan.columns, columns, strict=True):
            if column.kind in ("date", "time", "timestamp", "timestamptz"):
                # as DuckDB stores them, so that what Python cannot hold (24:00:00, 44 BC, infinity) goes in exactly
                values = [temporal_units(column.kind, value) for value in values]
            arrays.append(pa.array(values, type=arrow_type(column)))
        return pa.Table.from_arrays(arrays, schema=schema)


def convert_page(plan: TablePlan, rows: Sequence[tuple], first_position: int) -> ConvertedPage:
    """Convert a page of source rows (the plan's columns, then the key columns as stored) for the warehouse; rows
    with a value that does not fit become rejects. `first_position` is the place of the page's first row."""
    width = len(plan.columns)
    good, rejects = [], []
    for offset, row in enumerate(rows):
        values = row[:width]
        try:
            good.append(tuple(convert_value(column, value) for column, value in zip(plan.columns, values, strict=True)))
        except Unrepresentable as refused:
            rejects.append(Reject(first_position + offset, raw_row_text(plan.columns, values), str(refused)))
    last_key = tuple(rows[-1][width:]) if rows else None
    return ConvertedPage(good, rejects, last_key, rows_read=len(rows))


def add_page_to_checksum(checksum: Checksum, page: ConvertedPage) -> None:
    """The source side of verification: a good row counts by its converted values, a reject by its raw text, as
    the warehouse keeps them."""
    for row in page.rows:
        checksum.add(canonical_row(row))
    for reject in page.rejects:
        checksum.add(reject.raw)


# Keys go into the checkpoint as JSON; values JSON cannot tell apart are tagged.
def encode_key(key: Sequence[object] | None) -> str | None:
    if key is None:
        return None

    def encode(value: object) -> object:
        if value is None or isinstance(value, (bool, int, str)):
            return value
        if isinstance(value, float):
            return {"float": repr(value)}
        if isinstance(value, Decimal):
            return {"decimal": str(value)}
        if isinstance(value, datetime):
            return {"datetime": value.isoformat()}
        if isinstance(value, date):
            return {"date": value.isoformat()}
        if isinstance(value, time_of_day):
            return {"time": value.isoformat()}
        if isinstance(value, uuid.UUID):
            return {"uuid": str(value)}
        if isinstance(value, (bytes, bytearray, memoryview)):
            return {"bytes": bytes(value).hex()}
        if isinstance(value, SourceText):
            return {"source_text": [value.text, value.why]}
        if isinstance(value, WideTemporal):
            return {"wide_temporal": [value.kind, value.units, value.text]}
        return {"text": str(value)}

    return json.dumps([encode(value) for value in key])


def decode_key(text: str | None) -> tuple | None:
    if text is None:
        return None
    decoders = {
        "float": float,
        "decimal": Decimal,
        "datetime": datetime.fromisoformat,
        "date": date.fromisoformat,
        "time": time_of_day.fromisoformat,
        "uuid": uuid.UUID,
        "bytes": bytes.fromhex,
        "text": str,
        "source_text": lambda content: SourceText(*content),
        "wide_temporal": lambda content: WideTemporal(*content),
    }

    def decode(value: object) -> object:
        if isinstance(value, dict):
            ((tag, content),) = value.items()
            return decoders[tag](content)
        return value

    return tuple(decode(value) for value in json.loads(text))


# ------------------------------------------------------------------------------------------------------------------
# Sources


@dataclass(frozen=True)
class SourceColumn:
    name: str
    declared: str
    base_type: str = ""  # PostgreSQL only
    type_modifier: int = -1  # PostgreSQL only


@dataclass(frozen=True)
class SourceTable:
    shown: str  # how the table is named to people and in the ledger
    names: tuple[str, ...]
    columns: tuple[SourceColumn, ...]
    primary_key: tuple[str, ...]
    key_types: dict[str, str] = field(default_factory=dict)  # PostgreSQL: column -> format_type


class Source(Protocol):
    """A database tables are copied out of."""

    url: SourceURL

    def table_names(self) -> list[str]: ...

    def find_table(self, name: str) -> SourceTable: ...

    def plan_columns(self, table: SourceTable) -> tuple[ColumnPlan, ...]: ...

    def key_problem(self, table: SourceTable, key: Sequence[str]) -> str | None: ...

    def count_rows(self, plan: TablePlan) -> int: ...

    def read_page(self, plan: TablePlan, after: tuple | None, limit: int) -> list[tuple]: ...

    def close(self) -> None: ...


def _key_clause(plan: TablePlan, after: tuple | None, placeholder: str) -> str:
    """The keyset page's condition and order: `where (k1, k2) > (?, ?) order by k1, k2`."""
    keys = ", ".join(quote_identifier(name) for name in plan.key)
    condition = ""
    if after is not None:
        if plan.key_types:
            bounds = ", ".join(f"{placeholder}::{kind}" for kind in plan.key_types)
        else:
            bounds = ", ".join(placeholder for _ in plan.key)
        condition = f" where ({keys}) > ({bounds})"
    return f"{condition} order by {keys}"


class SQLiteSource:
    """A SQLite file, opened read-only. SQLite checks no declared types, so every value is checked on the way."""

    def __init__(self, url: SourceURL):
        self.url = url
        path = Path(url.location)
        if not path.is_file():
            raise MigrationRefused(f"source database {path} does not exist")
        with path.open("rb") as handle:
            if handle.read(16) != b"SQLite format 3\x00":
                raise MigrationRefused(f"source {path} is not a SQLite database")
        self.connection = sqlite3.connect(f"file:{quote(str(path))}?mode=ro", uri=True, check_same_thread=False)
        self.connection.text_factory = _sqlite_text

    def table_names(self) -> list[str]:
        rows = self.connection.execute(
            "select name from sqlite_schema where type = 'table' and name not like 'sqlite\\_%' escape '\\' order by name"
        ).fetchall()
        return [name for (name,) in rows]

    def find_table(self, name: str) -> SourceTable:
        names = self.table_names()
        wanted = [name] if name in names or not name.startswith("main.") else [name.removeprefix("main.")]
        # SQLite, like DuckDB, ignores the case of ASCII letters in names
        matches = [table for table in names if table in wanted] or [
            table for table in names if duckdb_name(table) in map(duckdb_name, wanted)
        ]
        if len(matches) != 1:
            what = "is ambiguous" if matches else "is not"
            raise MigrationRefused(
                f"table {name!r} {what} in {self.url.masked} (it has: {', '.join(names) or 'no tables'})"
            )
        (table,) = matches
        info = self.connection.execute(f"pragma table_info({quote_identifier(table)})").fetchall()
        columns = tuple(SourceColumn(name=row[1], declared=row[2] or "") for row in info)
        primary_key = tuple(row[1] for row in sorted((row for row in info if row[5]), key=lambda row: row[5]))
        return SourceTable(shown=table, names=(table,), columns=columns, primary_key=primary_key)

    def plan_columns(self, table: SourceTable) -> tuple[ColumnPlan, ...]:
        return tuple(
            map_sqlite_column(
                column.name,
                column.declared,
                self._numeric_shape(table, column.name) if sqlite_needs_numeric_shape(column.declared) else None,
            )
            for column in table.columns
        )

    def _numeric_shape(self, table: SourceTable, column: str) -> NumericShape:
        integer_digits = scale = 0
        cursor = self.connection.execute(f"select {quote_identifier(column)} from {_sqlite_table(table.names)}")
        while chunk := cursor.fetchmany(10_000):
            for (value,) in chunk:
                number = _as_decimal(value)
                if number is None:
                    continue  # not a number: a reject later, it does not widen the column
                sign, digits, exponent = number.as_tuple()
                value_scale = max(0, -exponent)
                scale = max(scale, value_scale)
                integer_digits = max(integer_digits, len(digits) - value_scale)
        return NumericShape(integer_digits, scale)

    def key_problem(self, table: SourceTable, key: Sequence[str]) -> str | None:
        # SQLite allows NULL in most primary keys and, with --key, any column may repeat: both break keyset pages
        return _key_problem_sql(self.connection.execute, _sqlite_table(table.names), key)

    def count_rows(self, plan: TablePlan) -> int:
        (count,) = self.connection.execute(f"select count(*) from {_sqlite_table(plan.source_names)}").fetchone()
        return count

    def read_page(self, plan: TablePlan, after: tuple | None, limit: int) -> list[tuple]:
        selected = ", ".join(quote_identifier(name) for name in [*(c.name for c in plan.columns), *plan.key])
        sql = f"select {selected} from {_sqlite_table(plan.source_names)}{_key_clause(plan, after, '?')} limit ?"
        return self.connection.execute(sql, [*(after or ()), limit]).fetchall()

    def close(self) -> None:
        self.connection.close()


def _sqlite_text(data: bytes) -> str | SourceText:
    """SQLite text that is not UTF-8 (it stores what it is given) cannot go into VARCHAR: keep it for a reject."""
    try:
        return data.decode()
    except UnicodeDecodeError:
        return SourceText(data.decode("utf-8", errors="backslashreplace"))


def _sqlite_table(names: tuple[str, ...]) -> str:
    return ".".join(quote_identifier(name) for name in names)


def _as_decimal(value: object) -> Decimal | None:
    try:
        if isinstance(value, bool) or value is None:
            return None
        if isinstance(value, float):
            number = Decimal(repr(value))
        elif isinstance(value, (int, Decimal)):
            number = Decimal(value)
        elif isinstance(value, str):
            number = Decimal(value.strip())
        else:
            return None
    except InvalidOperation:
        return None
    return number if number.is_finite() else None


def _key_problem_sql(execute, table_sql: str, key: Sequence[str]) -> str | None:
    keys = ", ".join(quote_identifier(name) for name in key)
    nulls = " or ".join(f"{quote_identifier(name)} is null" for name in key)
    (null_rows,) = execute(f"select count(*) from {table_sql} where {nulls}").fetchone()
    if null_rows:
        return f"{null_rows} row(s) have NULL in key ({', '.join(key)})"
    duplicate = execute(f"select {keys} from {table_sql} group by {keys} having count(*) > 1 limit 1").fetchone()
    if duplicate is not None:
        return f"key ({', '.join(key)}) is not unique: {tuple(duplicate)!r} occurs more than once"
    return None


class PostgresSource:
    """A PostgreSQL database through psycopg 3. Each page is its own short read-only statement (autocommit), so a
    long copy holds no transaction open on the source."""

    def __init__(self, url: SourceURL):
        import psycopg
        from psycopg.types.datetime import DateLoader, TimeLoader, TimestampLoader, TimestamptzLoader

        self.url = url
        try:
            self.connection = psycopg.connect(url.postgres.conninfo(), autocommit=True, connect_timeout=10)
        except psycopg.Error as error:
            raise MigrationRefused(
                f"cannot connect to {url.masked}: {redact(_first_line(error), url.location)}"
            ) from None
        self.connection.execute("set default_transaction_read_only = on")
        self.connection.execute("set datestyle = 'ISO, YMD'")
        self.connection.execute("set timezone = 'UTC'")
        for type_name, loader in (
            ("date", DateLoader),
            ("time", TimeLoader),
            ("timestamp", TimestampLoader),
            ("timestamptz", TimestamptzLoader),
        ):
            self.connection.adapters.register_loader(type_name, _tolerant_loader(type_name, loader, psycopg.DataError))
        self._tables = None

    @contextmanager
    def _masked_errors(self) -> Iterator[None]:
        import psycopg

        try:
            yield
        except psycopg.Error as error:
            raise SourceError(f"{self.url.masked}: {redact(_first_line(error), self.url.location)}") from None

    def _catalogue(self) -> list[tuple[int, str, str]]:
        if self._tables is None:
            with self._masked_errors():
                self._tables = self.connection.execute(
                    "select c.oid, n.nspname, c.relname from pg_class c "
                    "join pg_namespace n on n.oid = c.relnamespace "
                    "where c.relkind in ('r', 'p') and not c.relispartition "
                    "and n.nspname not in ('pg_catalog', 'information_schema') and n.nspname not like 'pg\\_%' "
                    "order by n.nspname, c.relname"
                ).fetchall()
        return self._tables

    def table_names(self) -> list[str]:
        return [f"{schema}.{name}" for _, schema, name in self._catalogue()]

    def find_table(self, name: str) -> SourceTable:
        catalogue = self._catalogue()
        # `schema.table` as the catalogue spells it (either may hold dots), or a table's own name, which means the
        # one in public, or the only one of that name; then the same without case (unquoted names fold to lower
        # case in PostgreSQL, and a person may type either)
        for same in (str.__eq__, lambda left, right: left.lower() == right.lower()):
            candidates = [row for row in catalogue if same(f"{row[1]}.{row[2]}", name)]
            if not candidates:
                candidates = [row for row in catalogue if same(row[2], name)]
                if len(candidates) > 1:
                    candidates = [row for row in candidates if row[1] == "public"] or candidates
            if candidates:
                break
        if len(candidates) != 1:
            known = ", ".join(self.table_names()) or "no tables"
            what = "is ambiguous" if candidates else "is not"
            raise MigrationRefused(f"table {name!r} {what} in {self.url.masked} (it has: {known})")
        ((oid, schema, table),) = candidates
        with self._masked_errors():
            columns = self.connection.execute(
                "select a.attname, format_type(a.atttypid, a.atttypmod), base.typname, "
                "case when t.typtype = 'd' then t.typtypmod else a.atttypmod end "
                "from pg_attribute a join pg_type t on t.oid = a.atttypid "
                "join pg_type base on base.oid = case when t.typtype = 'd' then t.typbasetype else t.oid end "
                "where a.attrelid = %s and a.attnum > 0 and not a.attisdropped order by a.attnum",
                [oid],
            ).fetchall()
            primary_key = self.connection.execute(
                "select a.attname from pg_index i "
                "cross join lateral unnest(i.indkey) with ordinality as k(attnum, place) "
                "join pg_attribute a on a.attrelid = i.indrelid and a.attnum = k.attnum "
                "where i.indrelid = %s and i.indisprimary order by k.place",
                [oid],
            ).fetchall()
        return SourceTable(
            shown=f"{schema}.{table}",
            names=(schema, table),
            columns=tuple(SourceColumn(name, declared, base, modifier) for name, declared, base, modifier in columns),
            primary_key=tuple(name for (name,) in primary_key),
            key_types={name: declared for name, declared, _, _ in columns},
        )

    def plan_columns(self, table: SourceTable) -> tuple[ColumnPlan, ...]:
        return tuple(
            map_postgres_column(
                column.name,
                column.declared,
                column.base_type,
                column.type_modifier,
                self._numeric_shape(table, column.name)
                if column.base_type == "numeric" and column.type_modifier < 4
                else None,
            )
            for column in table.columns
        )

    def _numeric_shape(self, table: SourceTable, column: str) -> NumericShape:
        name = quote_identifier(column)
        with self._masked_errors():
            integer_digits, scale = self.connection.execute(
                f"select coalesce(max(length(trunc(abs({name}))::text)), 0), coalesce(max(scale({name})), 0) "
                f"from {_postgres_table(table.names)} where {name}::text not in ('NaN', 'Infinity', '-Infinity')"
            ).fetchone()
        return NumericShape(int(integer_digits), int(scale))

    def key_problem(self, table: SourceTable, key: Sequence[str]) -> str | None:
        with self._masked_errors():
            return _key_problem_sql(self.connection.execute, _postgres_table(table.names), key)

    def count_rows(self, plan: TablePlan) -> int:
        with self._masked_errors():
            (count,) = self.connection.execute(f"select count(*) from {_postgres_table(plan.source_names)}").fetchone()
        return count

    def read_page(self, plan: TablePlan, after: tuple | None, limit: int) -> list[tuple]:
        values = [
            f"{quote_identifier(column.name)}::text" if column.select_as_text else quote_identifier(column.name)
            for column in plan.columns
        ]
        selected = ", ".join([*values, *(quote_identifier(name) for name in plan.key)])
        sql = f"select {selected} from {_postgres_table(plan.source_names)}{_key_clause(plan, after, '%s')} limit %s"
        # a bound Python cannot hold goes back in the source's own spelling, cast to the key column's type
        bounds = [value.text if isinstance(value, (WideTemporal, SourceText)) else value for value in after or ()]
        with self._masked_errors():
            return self.connection.execute(sql, [*bounds, limit]).fetchall()

    def close(self) -> None:
        self.connection.close()


def _postgres_table(names: tuple[str, ...]) -> str:
    return ".".join(quote_identifier(name) for name in names)


def _tolerant_loader(kind: str, loader: type, data_error: type) -> type:
    """A psycopg loader that turns a value Python cannot hold (infinity, years beyond 9999 or before 1, 24:00:00)
    into the WideTemporal DuckDB holds, or SourceText when DuckDB cannot hold it either (its row becomes a reject):
    one value never fails the page."""

    class Tolerant(loader):
        def load(self, data):
            try:
                return super().load(data)
            except (data_error, ValueError, OverflowError):
                return postgres_temporal(kind, bytes(data).decode())

    return Tolerant


def _first_line(error: BaseException) -> str:
    return (str(error).strip().splitlines() or [type(error).__name__])[0]


def open_source(url: str) -> Source:
    """The source behind `url`; raises MigrationRefused, with the password masked, when it cannot be opened."""
    parsed = parse_source_url(url)
    if parsed.kind == "postgresql":
        return PostgresSource(parsed)
    try:
        return SQLiteSource(parsed)
    except sqlite3.Error as error:
        raise MigrationRefused(f"cannot open {parsed.masked}: {error}") from None


@contextmanager
def connected(url: str) -> Iterator[Source]:
    source = open_source(url)
    try:
        yield source
    finally:
        source.close()


# ------------------------------------------------------------------------------------------------------------------
# Planning


def parse_key_options(options: Sequence[str] | None) -> dict[str | None, tuple[str, ...]]:
    """`--key` values: `TABLE=COL[,COL]` for one table, or `COL[,COL]` for every table without a primary key."""
    keys: dict[str | None, tuple[str, ...]] = {}
    for option in options or ():
        table, _, columns = option.rpartition("=")
        names = tuple(name.strip() for name in columns.split(",") if name.strip())
        if not names:
            raise MigrationRefused(f"--key {option!r} names no column")
        if (table.strip() or None) in keys:
            raise MigrationRefused(f"--key {option!r}: {table.strip() or 'the default key'} is given twice")
        keys[table.strip() or None] = names
    return keys


def resolve_keys(
    source: "Source", keys: dict[str | None, tuple[str, ...]]
) -> dict[tuple[str, ...] | None, tuple[str, ...]]:
    """The `--key` options by the catalogue's table (`orders` names `public.orders` in PostgreSQL, `main.orders` the
    SQLite table `orders`); refuses a key whose table the source does not have, or two keys for one table."""
    resolved: dict[tuple[str, ...] | None, tuple[str, ...]] = {}
    for table_name, columns in keys.items():
        if table_name is None:
            resolved[None] = columns
            continue
        try:
            table = source.find_table(table_name)
        except MigrationRefused as refused:
            raise MigrationRefused(f"--key {table_name}={','.join(columns)}: {refused}") from None
        if table.names in resolved:
            raise MigrationRefused(f"--key {table_name}={','.join(columns)}: table {table.shown} has a key already")
        resolved[table.names] = columns
    return resolved


def duckdb_name(name: str) -> str:
    """How DuckDB compares a name: ASCII letters without case (quoted or not), every other character as it is."""
    return "".join(character.lower() if character.isascii() else character for character in name)


def plan_table(
    source: "Source",
    name: str,
    target_schema: str,
    keys: dict[tuple[str, ...] | None, tuple[str, ...]] | None = None,
) -> TablePlan:
    """How to copy table `name`: its columns' mapping and its key (`keys` as resolve_keys gives them); refuses a
    table without a usable key, or whose names DuckDB cannot take."""
    keys = keys or {}
    table = source.find_table(name)
    explicit = keys.get(table.names)
    if explicit is None and not table.primary_key:
        explicit = keys.get(None)
    if explicit is None and not table.primary_key:
        raise MigrationRefused(
            f"table {table.shown} has no primary key, so it cannot be copied in resumable key order: "
            f"give one with --key {table.shown}=COLUMN[,COLUMN] (columns that are unique and never NULL)"
        )
    key = explicit or table.primary_key
    known = {column.name for column in table.columns}
    unknown = [column for column in key if column not in known]
    if unknown:
        raise MigrationRefused(
            f"key column(s) {', '.join(unknown)} not in {table.shown} (its columns: {', '.join(sorted(known))})"
        )
    _check_names(table)
    declared = explicit is None
    if not declared or isinstance(source, SQLiteSource):
        problem = source.key_problem(table, key)
        if problem:
            raise MigrationRefused(f"table {table.shown} cannot be paged by its key: {problem}")
    target_name = table.names[-1] if table.names[0] in ("public", table.names[-1]) else "__".join(table.names)
    if duckdb_name(target_name).endswith(COPY_SUFFIX):
        raise MigrationRefused(
            f"table {table.shown} would be copied to {target_schema}.{target_name}, a name ending in {COPY_SUFFIX}, "
            f"which the migration keeps for copies in progress"
        )
    return TablePlan(
        source=f"{source.url.masked}#{table.shown}",
        source_table=table.shown,
        source_names=table.names,
        target_schema=target_schema,
        target_name=target_name,
        key=tuple(key),
        key_declared=declared,
        columns=source.plan_columns(table),
        key_types=tuple(table.key_types[column] for column in key) if table.key_types else (),
    )


def _check_names(table: "SourceTable") -> None:
    """Refuse names DuckDB cannot take: empty ones, and two columns that differ only in the case of ASCII letters."""
    if not table.names[-1]:
        raise MigrationRefused(f"a table of the source has an empty name ({table.shown!r}): DuckDB allows none")
    seen: dict[str, str] = {}
    for column in table.columns:
        if not column.name:
            raise MigrationRefused(f"table {table.shown} has a column with an empty name: DuckDB allows none")
        other = seen.setdefault(duckdb_name(column.name), column.name)
        if other != column.name:
            raise MigrationRefused(
                f"table {table.shown} has columns {other!r} and {column.name!r}, which DuckDB cannot tell apart "
                f"(it ignores the case of names)"
            )


@dataclass(frozen=True)
class MigrationPlan:
    """What one run copies: the source (masked) and a plan per table."""

    source: str
    tables: list[TablePlan]
    started_at: float


def inspect_source(
    url: str, tables: Sequence[str] | None, target_schema: str, key_options: Sequence[str] | None = None
) -> MigrationPlan:
    """Plan the copy of `tables` (default: every table of the source) into `target_schema`; raises
    MigrationRefused naming the first table that cannot be copied, or the unusable URL."""
    started_at = time.time()
    if not target_schema.strip():
        raise MigrationRefused("the target schema is empty")
    from tasks.warehouse.connection import warehouse_schemas  # here: tasks.warehouse imports this module

    if duckdb_name(target_schema) in warehouse_schemas() | {"information_schema", "pg_catalog"}:
        raise MigrationRefused(
            f"the target schema {target_schema!r} is the warehouse's own: a copied table could replace one of its "
            f"tables; choose another (the default is raw)"
        )
    keys = parse_key_options(key_options)
    with connected(url) as source:
        names = list(tables) if tables else source.table_names()
        if not names:
            raise MigrationRefused(f"{source.url.masked} has no tables")
        resolved = resolve_keys(source, keys)
        plans = [plan_table(source, name, target_schema, resolved) for name in names]
        masked = source.url.masked
    copied = {plan.source_names for plan in plans}
    for table_names, columns in resolved.items():
        if table_names is not None and table_names not in copied:
            shown = ".".join(table_names)
            raise MigrationRefused(
                f"--key {shown}={','.join(columns)} names a table this run does not copy (it copies: "
                f"{', '.join(plan.source_table for plan in plans)})"
            )
    targets = [duckdb_name(plan.target_table) for plan in plans]
    if len(set(targets)) != len(targets):
        raise MigrationRefused(
            "two tables would be copied to the same warehouse table (DuckDB ignores the case of names): "
            + ", ".join(plan.target_table for plan in plans)
        )
    return MigrationPlan(source=masked, tables=plans, started_at=started_at)


def read_pages(
    source: Source, plan: TablePlan, after: tuple | None, batch_rows: int, position: int
) -> Iterator[ConvertedPage]:
    """The table's pages in key order after key `after`; `position` counts the rows read before (for rejects)."""
    while True:
        rows = source.read_page(plan, after, batch_rows)
        if not rows:
            return
        page = convert_page(plan, rows, position + 1)
        yield page
        position += len(rows)
        after = page.last_key
        if len(rows) < batch_rows:
            return


def source_checksum(source: Source, plan: TablePlan, batch_rows: int) -> Checksum:
    """The whole table's count and checksum, read page by page in key order."""
    checksum = Checksum()
    for page in read_pages(source, plan, None, batch_rows, 0):
        add_page_to_checksum(checksum, page)
    return checksum


def warehouse_checksum(row_batches: Iterator[list[tuple]], rejects: Iterator[str]) -> Checksum:
    """The copy's count and checksum: its rows (as DuckDB returns them) and the raw text of its rejects."""
    checksum = Checksum()
    for rows in row_batches:
        for row in rows:
            checksum.add(canonical_row(row))
    for raw in rejects:
        checksum.add(raw)
    return checksum


def compare_checksums(
    plan: TablePlan, source: Checksum, copied: Checksum, rows_copied: int, rows_rejected: int
) -> None:
    """Raise VerificationFailed, saying what differs, unless the copy (rows + rejects) matches the source."""
    if source.rows != rows_copied + rows_rejected or copied.rows != source.rows:
        raise VerificationFailed(
            f"{plan.description}: the source has {source.rows:,} rows, the warehouse {rows_copied:,} copied + "
            f"{rows_rejected:,} rejected = {copied.rows:,} (did the source change during the copy, or is the key "
            f"not unique?)"
        )
    if source.total != copied.total:
        raise VerificationFailed(
            f"{plan.description}: {source.rows:,} rows on both sides but the checksums differ (source "
            f"{source.total:016x}, warehouse {copied.total:016x}): rows changed in the source during the copy, or "
            f"in the warehouse since"
        )


# ------------------------------------------------------------------------------------------------------------------
# Reporting


@dataclass(frozen=True)
class TableCopy:
    """What copying one table did in this run."""

    plan: TablePlan
    status: str  # copied | unchanged
    rows_copied: int  # in total, this run and earlier ones
    rows_rejected: int
    rows_this_run: int  # rows read from the source by this run's copy (less than the total after a resume)
    resumed_after: int  # rows already copied by an earlier, interrupted run; 0 when it started from the beginning
    seconds: float
    fingerprint: str = ""  # unchanged tables: the ledger's


@dataclass(frozen=True)
class TableOutcome:
    """One table's verdict for the run's report."""

    table: str
    target: str
    verdict: str  # copied | unchanged | failed
    rows_in: int
    rows_loaded: int
    rows_rejected: int
    seconds: float
    error: str | None = None

    @property
    def rows_per_second(self) -> float:
        return self.rows_in / self.seconds if self.seconds else 0.0


def report_rows(outcomes: Sequence[TableOutcome]) -> list[dict]:
    """The run's table artifact: one row per table, then the totals."""
    rows = [
        {
            "table": outcome.table,
            "target": outcome.target,
            "rows in": outcome.rows_in,
            "loaded": outcome.rows_loaded,
            "rejected": outcome.rows_rejected,
            "seconds": round(outcome.seconds, 2),
            "rows/s": round(outcome.rows_per_second),
            "verdict": outcome.verdict if not outcome.error else f"failed: {outcome.error}",
        }
        for outcome in outcomes
    ]
    seconds = max((outcome.seconds for outcome in outcomes), default=0.0)
    rows_in = sum(outcome.rows_in for outcome in outcomes)
    failed = sum(outcome.verdict == "failed" for outcome in outcomes)
    rows.append(
        {
            "table": "TOTAL",
            "target": "",
            "rows in": rows_in,
            "loaded": sum(outcome.rows_loaded for outcome in outcomes),
            "rejected": sum(outcome.rows_rejected for outcome in outcomes),
            "seconds": round(seconds, 2),
            "rows/s": round(rows_in / seconds) if seconds else 0,
            "verdict": f"{failed} failed" if failed else "ok",
        }
    )
    return rows
