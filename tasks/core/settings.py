"""Every default batchyard uses, in one place; environment variables override the deployment-wide ones.

Each BATCHYARD_* value is checked here, once, against what it may be (the same bounds as the command-line flag or
flow parameter it stands for). A bad one does not stop the import, so that a flow can still be loaded and fail with
it: the setting keeps its default, the refusal is kept, and `check_settings()` raises it as a SettingError. Every
command and every flow run calls it before anything is written (tasks/kit/cli.py).
"""

import hashlib
import os
import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from pathlib import Path

from tasks.core.errors import PermanentError


class SettingError(ValueError, PermanentError):
    """A setting (an environment value, a flag or a flow parameter) batchyard refuses: permanent, said in one line
    naming the setting, its value and what is allowed."""


@dataclass(frozen=True)
class Allowed:
    """The numbers a setting may take: from `lowest` to `highest`, whole or not; `meaning` says it in other units."""

    lowest: float
    highest: float
    whole: bool = True
    meaning: str = ""

    def __str__(self) -> str:
        kind = "a whole number" if self.whole else "a number"
        lowest, highest = _number(self.lowest), _number(self.highest)
        return f"{kind} from {lowest} to {highest}" + (f" ({self.meaning})" if self.meaning else "")

    def parse(self, text: str) -> int | float:
        """The value `text` stands for; ValueError (saying what is allowed) when it is not one."""
        try:
            value = int(text.strip()) if self.whole else float(text.strip())
        except ValueError:
            raise ValueError(f"must be {self}") from None
        return self.check(value)

    def check(self, value: object) -> int | float:
        """`value` itself when allowed, else ValueError saying what is."""
        number = isinstance(value, int | float) and not isinstance(value, bool)
        fraction = isinstance(value, float) and not value.is_integer()
        if not number or (self.whole and fraction) or not self.lowest <= value <= self.highest:
            raise ValueError(f"must be {self}")
        return int(value) if self.whole else value


def _number(value: float) -> str:
    """`value` with thousands separators, without a `.0` when it is whole, and with every digit otherwise."""
    return f"{int(value):,}" if float(value).is_integer() else f"{value:,}"


KIB = 1 << 10
MIB = 1 << 20
GIB = 1 << 30
# Bytes, as the environment gives them (BATCHYARD_CHUNK_BYTES, BATCHYARD_SPLIT_BYTES).
CHUNK_BYTES_ALLOWED = Allowed(KIB, GIB, meaning="1 KiB to 1 GiB")
SPLIT_BYTES_ALLOWED = Allowed(KIB, 16 * GIB, meaning="1 KiB to 16 GiB")
# The same sizes in MiB, as a flow's chunk_mb and split_mb parameters and the --chunk-mb and --split-mb flags take
# them: one name and one set of bounds on the command line and in the UI. A fraction is less than a MiB (0.0625 is
# 64 KiB), down to 1 KiB: tests parse in small chunks, cheaply.
CHUNK_MB_ALLOWED = Allowed(KIB / MIB, GIB / MIB, whole=False, meaning="MiB, 1 KiB to 1 GiB: 0.0625 is 64 KiB")
SPLIT_MB_ALLOWED = Allowed(KIB / MIB, 16 * GIB / MIB, whole=False, meaning="MiB, 1 KiB to 16 GiB: 0.5 is 512 KiB")
REJECT_RATE_ALLOWED = Allowed(0, 1, whole=False, meaning="a share: 0.05 is 5%, 1 accepts any")
REJECT_RATE_MIN_ROWS_ALLOWED = Allowed(0, 1_000_000_000, meaning="rows; 0: every batch")
SESSION_GAP_ALLOWED = Allowed(1, 525_600, meaning="a minute to a year")
WORKERS_ALLOWED = Allowed(1, 256)
DASK_WORKERS_ALLOWED = Allowed(0, 256, meaning="0: no local Dask cluster")
REDUCERS_ALLOWED = Allowed(1, 4096)
MIGRATION_BATCH_ROWS_ALLOWED = Allowed(1, 10_000_000)
# DuckDB's memory_limit: a size with a unit (384MB, 1.5GiB) or a share of RAM (50%); a few MB cannot load anything.
MEMORY_LIMIT = re.compile(r"\s*(\d+(?:\.\d+)?)\s*(KB|MB|GB|TB|KiB|MiB|GiB|TiB|%)\s*", re.IGNORECASE)
MEMORY_UNITS = {"kb": 1e3, "mb": 1e6, "gb": 1e9, "tb": 1e12, "kib": 2**10, "mib": 2**20, "gib": 2**30, "tib": 2**40}
SMALLEST_MEMORY_LIMIT = 16 * MIB

_refusals: list[str] = []  # filled once, at import; read-only afterwards


def refusal(setting: str, value: object, reason: str) -> str:
    """The one line that refuses a setting: its name, its value and what is allowed."""
    return f"{setting}={value!r} is not allowed: it {reason}"


def check_settings() -> None:
    """Raise SettingError naming the first bad BATCHYARD_* environment value, if any."""
    if _refusals:
        more = f" (and {len(_refusals) - 1} more bad BATCHYARD_* value(s))" if len(_refusals) > 1 else ""
        raise SettingError(_refusals[0] + more)


def _environment(name: str, default, parse):
    """BATCHYARD_<name> parsed by `parse` (which raises ValueError saying what is allowed), or `default` when it is
    unset or refused (the refusal is kept for check_settings)."""
    variable = f"BATCHYARD_{name}"
    text = os.environ.get(variable)
    if text is None:
        return default
    try:
        return parse(text)
    except ValueError as error:
        _refusals.append(refusal(variable, text, str(error)))
        return default


def _path(text: str) -> Path:
    if not text.strip() or "\0" in text:
        raise ValueError("must be a path (not empty, no NUL character)")
    return Path(text)


def _memory_limit(text: str) -> str:
    size = MEMORY_LIMIT.fullmatch(text)
    allowed = "must be a size DuckDB understands, from 16MiB: e.g. 384MB, 1.5GiB, or a share of RAM such as 50%"
    if not size:
        raise ValueError(allowed)
    number, unit = float(size[1]), size[2].lower()
    if (unit == "%" and not 1 <= number <= 100) or (
        unit != "%" and number * MEMORY_UNITS[unit] < SMALLEST_MEMORY_LIMIT
    ):
        raise ValueError(allowed)
    return text.strip()


def parse_dask_address(text: str) -> str | None:
    """A Dask scheduler's address, or None for an empty one; ValueError saying what is allowed."""
    if not text.strip():
        return None  # as unset: threads in the flow's process
    if not re.fullmatch(r"([a-z]+://)?[^\s:/]+:\d{1,5}", text.strip()):
        raise ValueError("must be a Dask scheduler address such as tcp://host:8786 (or empty for none)")
    return text.strip()


PROJECT_ROOT = Path(__file__).resolve().parents[2]
DATA_DIR = PROJECT_ROOT / "data"

DEFAULT_WAREHOUSE = _environment("WAREHOUSE", DATA_DIR / "warehouse.duckdb", _path)
INVOICES = _environment("INVOICES", DATA_DIR / "invoices", _path)
REPORTS = _environment("REPORTS", DATA_DIR / "reports", _path)
LANDING = _environment("LANDING", DATA_DIR / "landing", _path)
# Seconds between two scans of a landing folder. A file is announced once it held still from one scan to the next, so
# it waits one to two of these; each scan lists the folder and reads only the files that changed.
SCAN_SECONDS = 2.0

# The Prefect global concurrency limit (of one slot) that runs queue on for their load phase when a Prefect server
# is configured; created on first use; empty: none. The file lock beside the database applies underneath it.
WAREHOUSE_WRITE_LIMIT = os.environ.get("BATCHYARD_WAREHOUSE_WRITE_LIMIT", "batchyard-warehouse-writes")


WRITE_TURNS = ("per-run", "per-load")


def _write_turn(text: str) -> str:
    if text.strip() not in WRITE_TURNS:
        raise ValueError("must be per-run or per-load")
    return text.strip()


# How long a run holds that limit's slot: its whole load phase (per-run), or each time it holds the warehouse to
# write, a load or the mart rebuild after the loads (per-load), so that the loads of runs started at once interleave.
# Per-load takes the slot once a file, which a SQLite-backed Prefect server may answer seconds late under a burst;
# per-load is for a PostgreSQL-backed one (docs/operations.md).
WRITE_TURN = _environment("WRITE_TURN", "per-run", _write_turn)

# Bytes of input text parsed at once. Peak memory is a small multiple of this (the text, its lines as a column,
# the parsed columns) per worker thread, and does not depend on the size of the input file.
CHUNK_BYTES = _environment("CHUNK_BYTES", 16 * MIB, CHUNK_BYTES_ALLOWED.parse)
CHUNK_MB = CHUNK_BYTES / MIB

# A line longer than this is not held in memory: it becomes one reject (its position, its start and a reason), so
# memory stays bounded by CHUNK_BYTES whatever a file holds. Well below CHUNK_BYTES; longer than any sane log line.
MAX_LINE_BYTES_ALLOWED = Allowed(KIB, CHUNK_BYTES, meaning="1 KiB to BATCHYARD_CHUNK_BYTES")
MAX_LINE_BYTES = _environment("MAX_LINE_BYTES", min(MIB, CHUNK_BYTES), MAX_LINE_BYTES_ALLOWED.parse)

# A client's requests belong to one session while no gap between two of them is longer than this.
SESSION_GAP_MINUTES = _environment("SESSION_GAP_MINUTES", 30, SESSION_GAP_ALLOWED.parse)
# Values the marts' SQL may name as $parameters; a run can override them (e.g. the access-logs flow's session gap).
# Requests per bucket in which the access-logs sessions are cut: a sort of this many fits in the warehouse's default
# memory limit (384MB); a million spills and takes twice as long.
REQUESTS_PER_BUCKET = 500_000
MART_SETTINGS = {"session_gap_minutes": SESSION_GAP_MINUTES, "requests_per_bucket": REQUESTS_PER_BUCKET}

# A batch rejecting more than this share of its rows (rejected / in) still loads, with its rejects quarantined, but
# fails its run and raises an alert event; each flow takes it as its `max_reject_rate` parameter.
MAX_REJECT_RATE = _environment("MAX_REJECT_RATE", 0.05, REJECT_RATE_ALLOWED.parse)
# The guard's rate applies to batches of at least this many rows: 2 rejects in a 19-row file are 10.5%, noise rather
# than a broken source. A smaller batch's rejects are kept and reported all the same. A batch rejected whole (it read
# rows and loaded none, e.g. for a missing column) fails its run whatever its size (unless MAX_REJECT_RATE is 1,
# which accepts any share). Each flow takes it as its `reject_rate_min_rows` parameter.
REJECT_RATE_MIN_ROWS = _environment("REJECT_RATE_MIN_ROWS", 100, REJECT_RATE_MIN_ROWS_ALLOWED.parse)

# DuckDB's own default is 80% of RAM, which a bulk insert happily fills; loads stream from Parquet and need little.
WAREHOUSE_MEMORY_LIMIT = _environment("WAREHOUSE_MEMORY_LIMIT", "384MB", _memory_limit)

# Chunks parsed at once in a process, whatever their batches: parsing is CPU-bound and each chunk holds memory.
PARSE_WORKERS = _environment("PARSE_WORKERS", min(os.cpu_count() or 2, 256), WORKERS_ALLOWED.parse)

# Task threads of a flow. More than PARSE_WORKERS so that a load waiting for the warehouse lock, or a batch
# waiting for a parse slot, never keeps another batch from starting; capped because Prefect's default is not.
TASK_THREADS = _environment("TASK_THREADS", min(2 * PARSE_WORKERS, 256), WORKERS_ALLOWED.parse)


# Input splits of one map task in a MapReduce job: the unit of parallel work (files larger than this are cut at
# line boundaries), and the work one retry redoes. Memory per map is bounded by CHUNK_BYTES, not this.
SPLIT_BYTES = _environment("SPLIT_BYTES", 64 * MIB, SPLIT_BYTES_ALLOWED.parse)
SPLIT_MB = SPLIT_BYTES / MIB
# Reduce partitions (and tasks) of a MapReduce job.
REDUCERS = _environment("REDUCERS", 4, REDUCERS_ALLOWED.parse)

# Where staging, spill and reduce files go; by default (unset or empty) beside the warehouse. On a Dask cluster of
# several machines, a folder every worker reaches at the same path.
STAGING = _environment("STAGING", None, lambda text: _path(text) if text else None)


def _switch(text: str) -> bool:
    if text.strip().lower() in ("on", "1", "true", "yes"):
        return True
    if text.strip().lower() in ("off", "0", "false", "no"):
        return False
    raise ValueError("must be on or off")


# Without PREFECT_API_URL, a command runs its flow on the project's local Prefect server, started on first use and
# left up for later runs (tasks/kit/local_server.py); off: Prefect's temporary server per run, as the tests run.
LOCAL_SERVER = _environment("LOCAL_SERVER", True, _switch)

# Tasks run on a Dask cluster: at this scheduler address, or else on a local cluster of this many worker processes;
# with neither, on threads in the flow's process.
DASK_ADDRESS = _environment("DASK_ADDRESS", None, parse_dask_address)
DASK_WORKERS = _environment("DASK_WORKERS", 0, DASK_WORKERS_ALLOWED.parse)
# A cluster's workers may be other machines: they stage where the flow's process tells them and the flow's process
# loads from there, so without a shared folder a run would fail batch by batch, or work only while every worker
# happens to run on the flow's machine. A local cluster (DASK_WORKERS) is on this machine: the default does.
NEEDS_SHARED_STAGING = (
    "must be paired with BATCHYARD_STAGING, a folder this process and every Dask worker reach at the same path (an NFS "
    "mount, say); the default, staging/ beside the warehouse, is on this machine only"
)
if DASK_ADDRESS and not STAGING:
    _refusals.append(refusal("BATCHYARD_DASK_ADDRESS", DASK_ADDRESS, NEEDS_SHARED_STAGING))


def bytes_in(mebibytes: float) -> int:
    """The bytes of a size given in MiB (a flow's chunk_mb or split_mb), to the nearest byte."""
    return round(mebibytes * MIB)


def staging_root_for(warehouse: Path) -> Path:
    """Staging lives beside the warehouse it feeds, so two warehouses never share checkpoints, unless BATCHYARD_STAGING
    names a shared folder (then one folder per warehouse inside it). Absolute: the flow's process decides it and
    hands it to tasks that may run in other working directories (Dask workers)."""
    if STAGING:
        return Path(STAGING).absolute() / hashlib.sha256(str(warehouse.resolve()).encode()).hexdigest()[:12]
    return warehouse.absolute().parent / "staging"


# Migration (flows/migrate.py): the rows read from the source, converted and committed with their checkpoint at
# once. Memory is a small multiple of one batch; a killed run redoes at most one batch per table.
MIGRATION_BATCH_ROWS = _environment("MIGRATION_BATCH_ROWS", 50_000, MIGRATION_BATCH_ROWS_ALLOWED.parse)


def _tax_rate(text: str) -> Decimal:
    """A percentage as an exact decimal (20 or 7.5), from 0 to 100, at most 4 decimals."""
    try:
        rate = Decimal(text.strip())
    except InvalidOperation:
        rate = None
    if rate is None or not rate.is_finite() or not 0 <= rate <= 100 or rate.as_tuple().exponent < -4:
        raise ValueError("must be a percentage from 0 to 100 with at most 4 decimals, such as 20 or 7.5")
    return rate


def _text(text: str) -> str:
    if not text.strip() or "\0" in text:
        raise ValueError("must be text (not empty, no NUL character)")
    return text.strip().replace("\\n", "\n")  # a literal \n in the environment starts a new line


# The issuer on every invoice (tasks/pipelines/billing/templates/invoice.html): sample values, to be set per deployment.
# Addresses and payment details take several lines: separate them with a literal \n in the environment.
SELLER_NAME = _environment("SELLER_NAME", "Batchyard Sample Ltd", _text)
SELLER_ADDRESS = _environment("SELLER_ADDRESS", "1 Example Street\nLondon EC1A 1AA\nUnited Kingdom", _text)
SELLER_TAX_ID = _environment("SELLER_TAX_ID", "GB 123 4567 89", _text)
SELLER_PAYMENT_DETAILS = _environment(
    "SELLER_PAYMENT_DETAILS", "Bank transfer to IBAN GB33 BUKB 2020 1555 5555 55, BIC BUKBGB22", _text
)
# An invoice is due this many days after it is issued ("net 30"); stored on each invoice when it is issued.
PAYMENT_TERMS_ALLOWED = Allowed(0, 365, meaning="days after the issue date; 0: due on receipt")
PAYMENT_TERMS_DAYS = _environment("PAYMENT_TERMS_DAYS", 30, PAYMENT_TERMS_ALLOWED.parse)
# Tax (VAT, sales tax) charged on each invoice's subtotal, in percent; stored on each invoice when it is issued. 0 by
# default: what rate applies depends on the seller's and each customer's jurisdictions (a B2B sale abroad is often
# reverse-charged), which batchyard does not know; the invoice then states that no tax is charged.
TAX_RATE_PERCENT = _environment("TAX_RATE_PERCENT", Decimal(0), _tax_rate)
# The statement printed under the tax line when TAX_RATE_PERCENT is 0 (e.g. a reverse-charge mention).
TAX_STATEMENT_AT_ZERO = _environment("TAX_STATEMENT_AT_ZERO", "No tax is charged on this invoice.", _text)


class FilePatterns:
    """What a list of file-name patterns may be: globs relative to the source folder ("!" before one excludes)."""

    ONE = "a file-name pattern relative to the source folder, such as *.log (!*.gz excludes)"

    def __str__(self) -> str:
        return "a list of file-name patterns relative to the source folder, such as *.log (!*.gz excludes)"

    def check_one(self, pattern: object) -> str:
        """`pattern` itself when it is one, else ValueError saying what is allowed."""
        glob = pattern.removeprefix("!") if isinstance(pattern, str) else ""
        if not glob or glob.startswith("/") or "\0" in glob:  # Path.glob refuses "" and absolute patterns
            raise ValueError(f"must be {self.ONE}")
        return pattern

    def check(self, value: object) -> object:
        """`value` itself when it is a list of patterns or None, else ValueError saying what is allowed."""
        try:
            if value is not None and not isinstance(value, list | tuple):
                raise ValueError
            for pattern in value or []:
                self.check_one(pattern)
        except ValueError:
            raise ValueError(f"must be {self}") from None
        return value


FILE_PATTERNS_ALLOWED = FilePatterns()

# Flow parameters that stand for a setting, and what each may be: every flow checks the ones it takes (see
# tasks/kit/cli.py), so a run started from the UI or the API is held to the same bounds as the command line.
PARAMETERS_ALLOWED = {
    "chunk_mb": CHUNK_MB_ALLOWED,
    "split_mb": SPLIT_MB_ALLOWED,
    "max_reject_rate": REJECT_RATE_ALLOWED,
    "reject_rate_min_rows": REJECT_RATE_MIN_ROWS_ALLOWED,
    "session_gap_minutes": SESSION_GAP_ALLOWED,
    "reducers": REDUCERS_ALLOWED,
    "batch_rows": MIGRATION_BATCH_ROWS_ALLOWED,
    "dask_workers": DASK_WORKERS_ALLOWED,
    "patterns": FILE_PATTERNS_ALLOWED,
}


def check_parameters(parameters: dict[str, object]) -> None:
    """Raise SettingError naming the first of `parameters` outside what PARAMETERS_ALLOWED allows for it."""
    for name, value in parameters.items():
        allowed = PARAMETERS_ALLOWED.get(name)
        if allowed is None:
            continue
        try:
            allowed.check(value)
        except ValueError as error:
            raise SettingError(refusal(name, value, str(error))) from None
