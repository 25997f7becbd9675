"""The billing rules (the "Billing rules" spec) computed independently of flows/billing.py.

Written from the spec only, never from the flow, without Polars, Pandera or DuckDB on the input side: the files
are read by the sales reference's readers (``tests/support/independent_sales.py``: the standard library's ``csv`` and
``gzip``, ``pyarrow.parquet`` for Parquet), values are checked with ``re``, ``datetime`` and ``decimal.Decimal``,
and money is rounded with ``ROUND_HALF_UP`` on exact values. DuckDB only reads the warehouse back in
``assert_billing_matches_independent_computation``.

API
---
``expected_billing(source, periods, files_at=None)`` simulates invoicing ``periods`` (``"YYYY-MM"``) one after the
other, in the order given, and returns sorted lists of tuples (columns in the spec's order, NULL is None):

* ``invoices``: (invoice_id, customer_id, period, currency, subtotal, total)
* ``invoice_lines``: (invoice_id, line_no, kind, metric, description, quantity, unit_price, amount, for_period)
* ``usage_daily``: (day, customer_id, metric, quantity)
* ``exceptions``: (period, customer_id, event_id, metric, quantity, ts, reason)
* ``rejects``: (absolute source path, line_number) of every rejected row of the folder as it is now.

``files_at`` says what the folder held when a period was invoiced: ``{period: names of the files present}``. A
period missing from it saw the folder as it is now. To check "invoice October, then late files arrive, then invoice
November", take ``before = landing_files(folder)`` before adding the files, then call
``expected_billing(folder, ["2026-10", "2026-11"], files_at={"2026-10": before})``: October's invoices are computed
from the files of ``before`` only (an issued invoice never changes), November's from every file, and November's
invoices carry October's adjustments. ``expected_billing(folder, ["2026-10"])`` before the files arrive gives the
same October invoices. A period listed twice is invoiced once (a complete period changes nothing on a re-run).

``read_billing_file(path)`` gives one file's loaded rows and rejects with reasons, for tests of the reference.

Readings of the spec where its text leaves a choice (the flow must make the same ones)
-------------------------------------------------------------------------------------
Files and rows

* Files are ``usage_<date>``, ``plans_<date>`` and ``subscriptions_<date>`` with ``.csv``, ``.csv.gz`` or
  ``.parquet``, ``<date>`` as ``YYYY-MM-DD`` or ``YYYYMMDD``, read exactly like the sales exports (header names
  trimmed and lower-cased, values trimmed, empty = missing, blank lines and wrong field counts rejected, a missing or
  extra column rejects every row of the file). A file whose name has no valid date is not read.
* currency any case, stored upper-case (as in sales). metric must match ``[a-z][a-z0-9_]*`` as written (``API_calls``
  is rejected, not lower-cased). Decimals are never rounded on the way in. Integer digits: quantity, included and
  up_to at most 12, unit_price at most 12, base_fee at most 14.
* A plans row without a metric must have included, up_to and unit_price empty; a row with a metric needs a
  unit_price.
* Plan-level rules are checked on the rows that pass the row rules, per file. The tiers of a (plan, metric) are taken
  in line order: each up_to must be greater than the previous one, exactly one is open-ended and it is the last line.
  Besides the spec's rules, a plan is rejected whole (reason ``plan 'x': ...``) when one of its rows is rejected by a
  row rule (a plan is never priced from part of its tiers) and when it has a row without a metric besides metered
  rows or two rows without a metric.
* Subscriptions: end_date < start_date rejects the row. Overlap: all the rows of a customer with two overlapping
  subscriptions (among the rows passing the row rules) are rejected, so that customer's usage is an exception.
  These rules apply to every subscriptions file (each is a batch and its rejects are recorded); only the latest is
  used. Two plans (or subscriptions) files with the same date: the greater path wins.
* Usage: a repeated event_id within a file rejects every later line (``event_id 'e1' already on line 4``). Rejected
  rows are not deliveries: a rejected first line does not make a later valid line a repeat.

Billing

* "Today's" state when a period is invoiced: the files present then. The catalogue is the latest plans file dated on
  or before the period's last day; the subscriptions are the latest subscriptions file; usage is every file.
* An event belongs to the period of the UTC day of its ts. Its subscription is the customer's one active on that day.
* A segment is a subscription active on at least one day of the period; its days are clipped to the period.
  A segment whose plan is not in the catalogue bills nothing and is an exception row with event_id, metric,
  quantity and ts NULL (reason ``plan 'x' is not in the catalogue ...``); its events are exceptions too.
* Minor units: ISO 4217's: 0 for JPY, KRW, CLP, ISK, VND, XAF, ... ; 3 for BHD, KWD, OMR, JOD, TND, IQD, LYD; 2 for
  every other currency. Rounding is half away from zero on the exact value (base fees: base_fee × days / days in month
  computed as a fraction).
* An invoice exists per (customer, period, currency) with a segment in that currency, or with a non-zero adjustment
  (a customer whose subscription ended still gets an invoice carrying the late usage of its last month).
* Numbering: invoices of a period sorted by customer_id (code point order, as DuckDB sorts VARCHAR) then currency
  code, numbered ``INV-<YYYYMM>-000001``, ``-000002``, ... (six digits, so that they sort as text)
* Lines (line_no from 1): base_fee lines (segments by start date), then usage lines (segment, metric name, tier
  number), then adjustment lines (for_period, metric).

  ============ ====== ================================================================ ============ ========== ===
  kind         metric description                                                      quantity     unit_price for
  ============ ====== ================================================================ ============ ========== ===
  base_fee     NULL   ``base fee, plan pro, 2026-10-01 to 2026-10-14 (14/31 days)``     NULL         base_fee   P
  usage (tier) m      ``api_calls, plan pro, tier 2 (1000 to 5000)``                    tier's qty   tier price P
  usage (tier) m      ``api_calls, plan pro, tier 3 (over 5000)`` (the open-ended tier) tier's qty   tier price P
  usage        m      ``api_calls included in plan pro`` (0 < Q ≤ included)             Q            NULL       P
  adjustment   m      ``usage adjustment for 2026-09: api_calls``                       NULL         NULL       Q
  ============ ====== ================================================================ ============ ========== ===

  The tier bounds are the billable quantity's (after included), written as plain decimals without trailing zeros
  (``0 to 1000.5``); the tier number is the tier's place in the plan even when a lower tier is empty. for_period is
  the invoice's own period except on adjustments.
* Adjustments (rule 9): when P is invoiced, every earlier period Q that was invoiced is recomputed from today's
  state. For each (customer, currency) with an invoice for Q, and each metric, the difference between the
  recomputed usage amount (Σ of Q's rounded usage lines of that metric) and what was billed for Q so far (Q's usage
  lines plus every adjustment line for Q) is one adjustment line on P's invoice when it is not zero (it may be
  negative). Base fees are never adjusted.
* exceptions: events of an invoiced period with ts in it that cannot be billed, as of the last run that computed
  that period (invoicing it, or recomputing it for adjustments): the table is rebuilt per period at each run.
  Reasons are compared by their category only (``reason_category``): ``catalogue`` when the reason mentions the
  catalogue (``plan 'x' is not in the catalogue of 2026-10``), else ``price`` when it mentions pric(ed/e)
  (``metric 'x' is not priced by plan 'y'``), else ``subscription`` (``no active subscription on 2026-10-03``).
* usage_daily: every valid deduplicated event of the folder as it is now, whatever its period or exception.
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

try:
    import independent_sales as sales
except ImportError:  # tests/ became a package
    from tests import independent_sales as sales

COLUMNS = {
    "usage": ("event_id", "customer_id", "metric", "quantity", "ts"),
    "plans": ("plan_id", "currency", "base_fee", "metric", "included", "up_to", "unit_price"),
    "subscriptions": ("customer_id", "plan_id", "start_date", "end_date"),
}
FILE_NAME = re.compile(r"(usage|plans|subscriptions)_(.*)\.(csv|csv\.gz|parquet)")
METRIC = re.compile(r"[a-z][a-z0-9_]*")
PERIOD = re.compile(r"(\d{4})-(\d{2})")
# ISO 4217 minor units other than 2 (of the currencies in circulation; written out independently of the product's).
MINOR_UNITS = {
    **dict.fromkeys(("BIF", "CLP", "DJF", "GNF", "ISK", "JPY", "KMF", "KRW", "PYG", "RWF", "UGX", "VND", "VUV"), 0),
    **dict.fromkeys(("XAF", "XOF", "XPF"), 0),
    **dict.fromkeys(("BHD", "IQD", "JOD", "KWD", "LYD", "OMR", "TND"), 3),
}

# The compared tables: column names in the spec's order, and how many leading columns identify a row.
TABLES = {
    "invoices": (("invoice_id", "customer_id", "period", "currency", "subtotal", "total"), 1),
    "invoice_lines": (
        ("invoice_id", "line_no", "kind", "metric", "description", "quantity", "unit_price", "amount", "for_period"),
        2,
    ),
    "usage_daily": (("day", "customer_id", "metric", "quantity"), 3),
    "exceptions": (("period", "customer_id", "event_id", "metric", "quantity", "ts", "reason"), 3),
}


# ------------------------------------------------------------------------------------------------- reading


@dataclass
class BillingFile:
    """A checked billing file: loaded rows (line number, values by column) and rejects (line, reason, raw)."""

    path: Path
    kind: str
    export_date: date
    loaded: list[tuple[int, dict]] = field(default_factory=list)
    rejects: list[tuple[int, str, str]] = field(default_factory=list)

    @property
    def source(self) -> str:
        return str(self.path.resolve())

    @property
    def precedence(self) -> tuple[date, str]:
        """Deliveries in the order the spec ranks them: export date in the name, then path."""
        return self.export_date, self.source


def export_date_of(name: str) -> date | None:
    """The date in a billing file's name, None when the name carries no valid date."""
    middle = FILE_NAME.fullmatch(name).group(2)
    match = sales.NAME_DATE.fullmatch(middle)
    if match is None or middle.count("-") not in (0, 2):
        return None
    try:
        return date(*(int(part) for part in match.groups()))
    except ValueError:
        return None


def landing_files(source: Path) -> set[str]:
    """Names of the billing files in the folder now (to pass as one period's `files_at`)."""
    return {path.name for path in source.iterdir() if path.is_file() and FILE_NAME.fullmatch(path.name)}


def check_optional_decimal(column, value, reasons, places, integer_digits) -> Decimal | None:
    return None if value is None else sales.check_decimal(column, value, reasons, places, integer_digits)


def check_not_negative(column: str, number: Decimal | None, values: dict, reasons: list[str]) -> Decimal | None:
    if number is not None and number < 0:
        reasons.append(f"{column} '{values[column]}' is negative")
        return None
    return number


def check_metric(value: str | None, reasons: list[str], required: bool) -> str | None:
    if value is None:
        if required:
            reasons.append("metric is missing")
        return None
    if not METRIC.fullmatch(value):
        reasons.append(f"metric '{value}' is not a metric name ([a-z][a-z0-9_]*)")
        return None
    return value


def check_usage(values: dict) -> tuple[dict, list[str]]:
    reasons: list[str] = []
    quantity = sales.check_decimal("quantity", values["quantity"], reasons, places=6, integer_digits=12)
    row = {
        "event_id": sales.check_required("event_id", values["event_id"], reasons),
        "customer_id": sales.check_required("customer_id", values["customer_id"], reasons),
        "metric": check_metric(values["metric"], reasons, required=True),
        "quantity": check_not_negative("quantity", quantity, values, reasons),
        "ts": sales.check_timestamp("ts", values["ts"], reasons),
    }
    return row, reasons


def check_plan(values: dict) -> tuple[dict, list[str]]:
    reasons: list[str] = []
    metric = check_metric(values["metric"], reasons, required=False)
    base_fee = sales.check_decimal("base_fee", values["base_fee"], reasons, places=4, integer_digits=14)
    included = check_optional_decimal("included", values["included"], reasons, places=6, integer_digits=12)
    up_to = check_optional_decimal("up_to", values["up_to"], reasons, places=6, integer_digits=12)
    if up_to is not None and up_to <= 0:
        reasons.append(f"up_to '{values['up_to']}' is not greater than 0")
    unit_price = None
    if values["metric"] is None:
        for column in ("included", "up_to", "unit_price"):
            if values[column] is not None:
                reasons.append(f"{column} '{values[column]}' is given on a row without a metric")
    else:
        unit_price = sales.check_decimal("unit_price", values["unit_price"], reasons, places=6, integer_digits=12)
    row = {
        "plan_id": sales.check_required("plan_id", values["plan_id"], reasons),
        "currency": sales.check_code("currency", values["currency"], reasons, sales.CURRENCIES, "an ISO 4217 code"),
        "base_fee": check_not_negative("base_fee", base_fee, values, reasons),
        "metric": metric,
        "included": check_not_negative("included", included, values, reasons),
        "up_to": up_to,
        "unit_price": check_not_negative("unit_price", unit_price, values, reasons),
    }
    return row, reasons


def check_subscription(values: dict) -> tuple[dict, list[str]]:
    reasons: list[str] = []
    start = sales.check_date("start_date", values["start_date"], reasons)
    end = None if values["end_date"] is None else sales.check_date("end_date", values["end_date"], reasons)
    if start is not None and end is not None and end < start:
        reasons.append(f"end_date {end} is before start_date {start}")
    row = {
        "customer_id": sales.check_required("customer_id", values["customer_id"], reasons),
        "plan_id": sales.check_required("plan_id", values["plan_id"], reasons),
        "start_date": start,
        "end_date": end,
    }
    for column, longest in (("customer_name", 200), ("customer_address", 500)):
        if values.get(column) is not None and len(values[column]) > longest:
            reasons.append(f"{column}: longer than {longest} characters")
    return row, reasons


ROW_CHECKS = {"usage": check_usage, "plans": check_plan, "subscriptions": check_subscription}


# Columns a file may leave out (issue 18: the customer's name and address for the invoice).
OPTIONAL_COLUMNS = {"subscriptions": ("customer_name", "customer_address")}


def header_problems(kind: str, names: list[str]) -> list[str]:
    expected = COLUMNS[kind]
    optional = OPTIONAL_COLUMNS.get(kind, ())
    problems = [f"the file has no column '{column}'" for column in expected if column not in names]
    seen: list[str] = []
    for name in names:
        if (name not in expected and name not in optional) or name in seen:
            problems.append(f"unexpected column '{name}'")
        seen.append(name)
    return problems


def read_billing_file(path: Path) -> BillingFile:
    """Read and check one file: the field rules, then the file-level rules of its kind."""
    kind = FILE_NAME.fullmatch(path.name).group(1)
    billing_file = BillingFile(path, kind, export_date_of(path.name))
    is_parquet = path.name.endswith(".parquet")
    names, records = sales.parquet_records(path) if is_parquet else sales.csv_records(path)
    names = [name.strip(sales.WHITESPACE).lower() for name in names]
    file_problem = "; ".join(header_problems(kind, names)) or None
    passing: list[tuple[int, dict, str]] = []
    failing: list[tuple[int, dict | None, str, str]] = []  # (line, values when readable, reason, raw)
    for record in records:
        if file_problem:
            failing.append((record.line_number, None, file_problem, record.raw))
        elif not is_parquet and record.raw.strip(sales.WHITESPACE) == "":
            failing.append((record.line_number, None, "blank line", record.raw))
        elif record.problem:
            failing.append((record.line_number, None, record.problem, record.raw))
        elif len(record.fields) != len(names):
            reason = f"has {len(record.fields)} fields, the header has {len(names)}"
            failing.append((record.line_number, None, reason, record.raw))
        else:
            values = {name: sales.trimmed(value) for name, value in zip(names, record.fields, strict=True)}
            row, reasons = ROW_CHECKS[kind](values)
            if reasons:
                failing.append((record.line_number, values, "; ".join(reasons), record.raw))
            else:
                passing.append((record.line_number, row, record.raw))
    file_rules = {"usage": repeated_events, "plans": plan_problems, "subscriptions": overlapping_subscriptions}
    reasons_of_line = file_rules[kind](passing, failing)
    for line_number, row, raw in passing:
        if line_number in reasons_of_line:
            failing.append((line_number, row, reasons_of_line[line_number], raw))
        else:
            billing_file.loaded.append((line_number, row))
    billing_file.rejects = sorted((line, reason, raw) for line, _, reason, raw in failing)
    return billing_file


def repeated_events(passing: list[tuple[int, dict, str]], failing: list) -> dict[int, str]:
    """Rule 1 within a file: the first line of an event_id is kept, the later ones are rejected."""
    first_line: dict[str, int] = {}
    reasons = {}
    for line_number, row, _ in passing:
        event_id = row["event_id"]
        if event_id in first_line:
            reasons[line_number] = f"event_id '{event_id}' already on line {first_line[event_id]}"
        else:
            first_line[event_id] = line_number
    return reasons


def plan_problems(passing: list[tuple[int, dict, str]], failing: list) -> dict[int, str]:
    """Plan-level rules: every row of a plan that breaks one is rejected with the plan's problems."""
    rows_of_plan: dict[str, list[tuple[int, dict]]] = defaultdict(list)
    for line_number, row, _ in passing:
        rows_of_plan[row["plan_id"]].append((line_number, row))
    rejected_lines: dict[str, list[int]] = defaultdict(list)
    for line_number, values, _, _ in failing:
        if values is not None and values.get("plan_id") is not None:
            rejected_lines[values["plan_id"]].append(line_number)

    reasons = {}
    for plan_id, rows in rows_of_plan.items():
        problems = []
        if rejected_lines.get(plan_id):
            problems.append("rejected row on line " + ", ".join(map(str, rejected_lines[plan_id])))
        currencies = sorted({row["currency"] for _, row in rows})
        if len(currencies) > 1:
            problems.append(f"more than one currency ({', '.join(currencies)})")
        fees = sorted({row["base_fee"] for _, row in rows})
        if len(fees) > 1:
            problems.append(f"more than one base_fee ({', '.join(plain(fee) for fee in fees)})")
        unmetered = [line for line, row in rows if row["metric"] is None]
        if unmetered and len(unmetered) < len(rows):
            problems.append("a row without a metric besides metered rows")
        elif len(unmetered) > 1:
            problems.append(f"{len(unmetered)} rows without a metric")
        tiers_of_metric: dict[str, list[tuple[int, dict]]] = defaultdict(list)
        for line_number, row in rows:
            if row["metric"] is not None:
                tiers_of_metric[row["metric"]].append((line_number, row))
        for metric, tiers in tiers_of_metric.items():
            if len({row["included"] or Decimal(0) for _, row in tiers}) > 1:
                problems.append(f"{metric}: more than one included value")
            open_lines = [line for line, row in tiers if row["up_to"] is None]
            if len(open_lines) != 1:
                problems.append(f"{metric}: {len(open_lines)} open-ended tiers (exactly one needed)")
            elif open_lines[0] != tiers[-1][0]:
                problems.append(f"{metric}: the open-ended tier (line {open_lines[0]}) is not the last")
            bounds = [(line, row["up_to"]) for line, row in tiers if row["up_to"] is not None]
            for (_, previous), (line, up_to) in zip(bounds, bounds[1:], strict=False):
                if up_to <= previous:
                    problems.append(f"{metric}: up_to {plain(up_to)} on line {line} is not above {plain(previous)}")
        if problems:
            for line_number, _ in rows:
                reasons[line_number] = f"plan '{plan_id}': " + "; ".join(problems)
    return reasons


def overlapping_subscriptions(passing: list[tuple[int, dict, str]], failing: list) -> dict[int, str]:
    """Every row of a customer with two overlapping subscriptions is rejected."""
    rows_of_customer: dict[str, list[tuple[int, dict]]] = defaultdict(list)
    for line_number, row, _ in passing:
        rows_of_customer[row["customer_id"]].append((line_number, row))
    reasons = {}
    for customer_id, rows in rows_of_customer.items():
        ordered = sorted(rows, key=lambda item: item[1]["start_date"])
        overlaps = [
            (earlier[0], later[0])
            for earlier, later in zip(ordered, ordered[1:], strict=False)
            if earlier[1]["end_date"] is None or later[1]["start_date"] <= earlier[1]["end_date"]
        ]
        if overlaps:
            pairs = ", ".join(f"lines {a} and {b}" for a, b in overlaps)
            for line_number, _ in rows:
                reasons[line_number] = f"customer '{customer_id}' has overlapping subscriptions ({pairs})"
    return reasons


def read_folder(source: Path) -> dict[str, BillingFile]:
    """Every billing file of the folder whose name carries a date, checked, by file name."""
    files = {}
    for name in sorted(landing_files(source)):
        if export_date_of(name) is not None:
            files[name] = read_billing_file(source / name)
    return files


# --------------------------------------------------------------------------------------------- the model


@dataclass(frozen=True)
class Plan:
    plan_id: str
    currency: str
    base_fee: Decimal
    # metric -> (included, [(up_to or None, unit_price), ...] in tier order)
    metrics: dict[str, tuple[Decimal, list[tuple[Decimal | None, Decimal]]]]


@dataclass(frozen=True)
class Event:
    event_id: str
    customer_id: str
    metric: str
    quantity: Decimal
    ts: datetime


@dataclass
class State:
    """What the folder held when a period was invoiced: its files, read."""

    files: list[BillingFile]

    def latest(self, kind: str, on_or_before: date | None = None) -> BillingFile | None:
        candidates = [
            file
            for file in self.files
            if file.kind == kind and (on_or_before is None or file.export_date <= on_or_before)
        ]
        return max(candidates, key=lambda file: file.precedence, default=None)

    def catalogue(self, last_day: date) -> dict[str, Plan]:
        plans_file = self.latest("plans", last_day)
        rows_of_plan: dict[str, list[dict]] = defaultdict(list)
        for _, row in plans_file.loaded if plans_file else []:
            rows_of_plan[row["plan_id"]].append(row)
        catalogue = {}
        for plan_id, rows in rows_of_plan.items():
            metrics: dict[str, tuple[Decimal, list]] = {}
            for row in rows:  # in line order, which is tier order
                if row["metric"] is not None:
                    included, tiers = metrics.setdefault(row["metric"], (row["included"] or Decimal(0), []))
                    tiers.append((row["up_to"], row["unit_price"]))
            catalogue[plan_id] = Plan(plan_id, rows[0]["currency"], rows[0]["base_fee"], metrics)
        return catalogue

    def subscriptions(self) -> dict[str, list[dict]]:
        """The latest subscriptions file's rows by customer, in start_date order."""
        subscriptions_file = self.latest("subscriptions")
        by_customer: dict[str, list[dict]] = defaultdict(list)
        for _, row in subscriptions_file.loaded if subscriptions_file else []:
            by_customer[row["customer_id"]].append(row)
        return {customer: sorted(rows, key=lambda row: row["start_date"]) for customer, rows in by_customer.items()}

    def events(self) -> list[Event]:
        """Every event once: its first delivery (export date, path, line)."""
        first: dict[str, tuple[tuple, dict]] = {}
        for billing_file in self.files:
            if billing_file.kind != "usage":
                continue
            for line_number, row in billing_file.loaded:
                rank = (*billing_file.precedence, line_number)
                if row["event_id"] not in first or rank < first[row["event_id"]][0]:
                    first[row["event_id"]] = (rank, row)
        return [
            Event(row["event_id"], row["customer_id"], row["metric"], row["quantity"], row["ts"])
            for _, row in first.values()
        ]


def period_bounds(period: str) -> tuple[date, date]:
    """First and last day of a "YYYY-MM" period."""
    match = PERIOD.fullmatch(period)
    if match is None:
        raise ValueError(f"period {period!r} is not YYYY-MM")
    first = date(int(match.group(1)), int(match.group(2)), 1)
    following = date(first.year + first.month // 12, first.month % 12 + 1, 1)
    return first, following - timedelta(days=1)


def plain(number: Decimal) -> str:
    """A decimal in plain notation without trailing zeros (1000, 0.5, 1000.25)."""
    text = format(number, "f")
    return text.rstrip("0").rstrip(".") if "." in text else text


def rounded(value: Decimal, currency: str) -> Decimal:
    return value.quantize(Decimal(1).scaleb(-MINOR_UNITS.get(currency, 2)), rounding=ROUND_HALF_UP)


def prorated(base_fee: Decimal, days: int, days_in_month: int, currency: str) -> Decimal:
    """base_fee × days / days_in_month rounded half away from zero, on the exact fraction."""
    minor = MINOR_UNITS.get(currency, 2)
    numerator = int(base_fee.scaleb(4)) * days * 10**minor  # base_fee has at most 4 decimals
    denominator = days_in_month * 10**4
    units = (2 * numerator + denominator) // (2 * denominator)
    return Decimal(units).scaleb(-minor)


def tier_lines(metric: str, plan: Plan, quantity: Decimal, period: str) -> list[dict]:
    """Rule 5: the usage lines of one segment's metric with Q = quantity."""
    included, tiers = plan.metrics[metric]
    if quantity <= 0:
        return []
    billable = max(Decimal(0), quantity - included)
    if billable == 0:
        description = f"{metric} included in plan {plan.plan_id}"
        return [line("usage", metric, description, quantity, None, rounded(Decimal(0), plan.currency), period)]
    lines, lower = [], Decimal(0)
    for number, (up_to, unit_price) in enumerate(tiers, start=1):
        upper = billable if up_to is None else min(billable, up_to)
        if upper > lower:
            bounds = f"over {plain(lower)}" if up_to is None else f"{plain(lower)} to {plain(up_to)}"
            description = f"{metric}, plan {plan.plan_id}, tier {number} ({bounds})"
            amount = rounded((upper - lower) * unit_price, plan.currency)
            lines.append(line("usage", metric, description, upper - lower, unit_price, amount, period))
        if up_to is None or billable <= up_to:
            break
        lower = up_to
    return lines


def line(kind, metric, description, quantity, unit_price, amount, for_period) -> dict:
    return {
        "kind": kind,
        "metric": metric,
        "description": description,
        "quantity": quantity,
        "unit_price": unit_price,
        "amount": amount,
        "for_period": for_period,
    }


def bill_period(state: State, period: str) -> tuple[dict[tuple[str, str], list[dict]], list[tuple]]:
    """The base fee and usage lines of every (customer, currency) of a period, and the period's exceptions."""
    first, last = period_bounds(period)
    days_in_month = (last - first).days + 1
    catalogue = state.catalogue(last)
    subscriptions = state.subscriptions()
    exceptions = []

    segments = {}  # (customer_id, start_date) -> [plan, first day, last day, {metric: Q}]
    for customer_id, rows in subscriptions.items():
        for row in rows:
            start, end = max(row["start_date"], first), min(row["end_date"] or last, last)
            if start > end:
                continue
            if row["plan_id"] not in catalogue:
                reason = f"plan '{row['plan_id']}' is not in the catalogue of {period} (subscription from {start})"
                exceptions.append((period, customer_id, None, None, None, None, reason))
                continue
            segments[(customer_id, row["start_date"])] = [catalogue[row["plan_id"]], start, end, defaultdict(Decimal)]

    for event in state.events():
        day = event.ts.date()
        if not first <= day <= last:
            continue
        active = [
            row
            for row in subscriptions.get(event.customer_id, [])
            if row["start_date"] <= day and (row["end_date"] is None or day <= row["end_date"])
        ]
        reason = None
        if not active:
            reason = f"no active subscription on {day}"
        elif active[0]["plan_id"] not in catalogue:
            reason = f"plan '{active[0]['plan_id']}' is not in the catalogue of {period}"
        elif event.metric not in catalogue[active[0]["plan_id"]].metrics:
            reason = f"metric '{event.metric}' is not priced by plan '{active[0]['plan_id']}'"
        if reason:
            exceptions.append(
                (period, event.customer_id, event.event_id, event.metric, event.quantity, event.ts, reason)
            )
        else:
            segments[(event.customer_id, active[0]["start_date"])][3][event.metric] += event.quantity

    base_lines: dict[tuple[str, str], list[dict]] = defaultdict(list)
    usage_lines: dict[tuple[str, str], list[dict]] = defaultdict(list)
    for (customer_id, _), (plan, start, end, quantities) in sorted(segments.items()):
        key = (customer_id, plan.currency)
        days = (end - start).days + 1
        description = f"base fee, plan {plan.plan_id}, {start} to {end} ({days}/{days_in_month} days)"
        amount = prorated(plan.base_fee, days, days_in_month, plan.currency)
        base_lines[key].append(line("base_fee", None, description, None, plan.base_fee, amount, period))
        for metric in sorted(quantities):
            usage_lines[key].extend(tier_lines(metric, plan, quantities[metric], period))
    return {key: base_lines[key] + usage_lines[key] for key in base_lines}, exceptions


def usage_amounts(lines: list[dict], kinds: tuple[str, ...]) -> dict[str, Decimal]:
    amounts: dict[str, Decimal] = defaultdict(Decimal)
    for entry in lines:
        if entry["kind"] in kinds:
            amounts[entry["metric"]] += entry["amount"]
    return amounts


def expected_billing(
    source: Path, periods: list[str], files_at: Mapping[str, Iterable[str]] | None = None
) -> dict[str, list[tuple]]:
    """Every billing table and the rejects, invoicing `periods` in order (see the module docstring)."""
    folder = read_folder(source)
    files_at = files_at or {}
    issued: dict[str, dict[tuple[str, str], list[dict]]] = {}  # period -> (customer, currency) -> lines
    exceptions_of: dict[str, list[tuple]] = {}

    for period in periods:
        if period in issued:
            continue  # a complete period changes nothing
        names = set(files_at.get(period, folder))
        state = State([billing_file for name, billing_file in folder.items() if name in names])
        drafts, exceptions_of[period] = bill_period(state, period)

        adjustments: dict[tuple[str, str], list[dict]] = defaultdict(list)
        for earlier in sorted(issued):
            if earlier > period:
                continue
            recomputed, exceptions_of[earlier] = bill_period(state, earlier)
            for key in sorted(issued[earlier]):
                billed: dict[str, Decimal] = defaultdict(Decimal)
                for invoices in issued.values():
                    for entry in invoices.get(key, []):
                        if entry["for_period"] == earlier and entry["kind"] in ("usage", "adjustment"):
                            billed[entry["metric"]] += entry["amount"]
                now = usage_amounts(recomputed.get(key, []), ("usage",))
                for metric in sorted(billed.keys() | now.keys()):
                    difference = now.get(metric, Decimal(0)) - billed.get(metric, Decimal(0))
                    if difference:
                        description = f"usage adjustment for {earlier}: {metric}"
                        adjustments[key].append(
                            line("adjustment", metric, description, None, None, difference, earlier)
                        )
        issued[period] = {key: drafts.get(key, []) + adjustments.get(key, []) for key in drafts.keys() | adjustments}

    invoices, invoice_lines = [], []
    for period, invoices_of_period in issued.items():
        for number, key in enumerate(sorted(invoices_of_period), start=1):
            invoice_id = f"INV-{period.replace('-', '')}-{number:06d}"
            lines = invoices_of_period[key]
            total = sum((entry["amount"] for entry in lines), Decimal(0))
            invoices.append((invoice_id, key[0], period, key[1], total, total))
            for line_no, entry in enumerate(lines, start=1):
                invoice_lines.append(
                    (
                        invoice_id,
                        line_no,
                        entry["kind"],
                        entry["metric"],
                        entry["description"],
                        entry["quantity"],
                        entry["unit_price"],
                        entry["amount"],
                        entry["for_period"],
                    )
                )

    now = State(list(folder.values()))
    daily: dict[tuple[date, str, str], Decimal] = defaultdict(Decimal)
    for event in now.events():
        daily[(event.ts.date(), event.customer_id, event.metric)] += event.quantity
    return {
        "invoices": sorted(invoices, key=sales.null_last),
        "invoice_lines": sorted(invoice_lines, key=sales.null_last),
        "usage_daily": sorted(((*key, quantity) for key, quantity in daily.items()), key=sales.null_last),
        "exceptions": sorted((row for rows in exceptions_of.values() for row in rows), key=sales.null_last),
        "rejects": sorted((file.source, line_number) for file in folder.values() for line_number, _, _ in file.rejects),
    }


# ----------------------------------------------------------------------------------- the warehouse check


def reason_category(reason: str | None) -> str | None:
    """An exception reason reduced to what is compared: catalogue, price or subscription."""
    if reason is None:
        return None
    lowered = reason.lower()
    for category, pattern in (("catalogue", "catalog"), ("price", "pric"), ("subscription", "subscription")):
        if pattern in lowered:
            return category
    return reason


def comparable(table: str, row: tuple) -> tuple:
    """A row as both sides are compared: decimals by value, timestamps in UTC, reasons by category."""
    values = []
    for column, value in zip(TABLES[table][0], row, strict=True):
        if isinstance(value, Decimal):
            value = value.normalize() if value else Decimal(0)
        elif isinstance(value, datetime):
            value = value.astimezone(UTC)
        elif column == "reason":
            value = reason_category(value)
        values.append(value)
    return tuple(values)


def describe_differences(table: str, expected: list[tuple], actual: list[tuple], shown: int = 5) -> str:
    """The first few rows that differ, matched on the table's identifying columns."""
    names, width = TABLES[table]
    missing = Counter(expected) - Counter(actual)
    unexpected = Counter(actual) - Counter(expected)
    unexpected_by_key = {row[:width]: row for row in unexpected.elements()}
    lines = [f"billing.{table}: {sum(missing.values())} expected rows missing, {sum(unexpected.values())} unexpected"]
    for row in sorted(missing.elements(), key=sales.null_last)[:shown]:
        other = unexpected_by_key.pop(row[:width], None)
        if other is None:
            lines.append(f"  missing  {dict(zip(names, row, strict=True))}")
        else:
            changed = {name: (want, got) for name, want, got in zip(names, row, other, strict=True) if want != got}
            lines.append(
                f"  differs  {dict(zip(names[:width], row[:width], strict=True))}: (expected, actual) {changed}"
            )
    for row in sorted(unexpected_by_key.values(), key=sales.null_last)[:shown]:
        lines.append(f"  unexpected {dict(zip(names, row, strict=True))}")
    return "\n".join(lines)


def assert_billing_matches_independent_computation(
    source: Path, warehouse: Path, periods: list[str], files_at: Mapping[str, Iterable[str]] | None = None
) -> None:
    """The warehouse's billing tables and billing rejects equal the independent computation over `source`."""
    import duckdb  # only to read the warehouse back

    expected = expected_billing(source, periods, files_at)
    problems = []
    with duckdb.connect(str(warehouse), read_only=True) as connection:
        for table, (columns, _) in TABLES.items():
            column_list = ", ".join(f'"{column}"' for column in columns)
            try:
                rows = connection.execute(f"select {column_list} from billing.{table}").fetchall()
            except duckdb.Error as error:
                problems.append(f"billing.{table}: cannot be read: {error}")
                continue
            want = sorted((comparable(table, row) for row in expected[table]), key=sales.null_last)
            actual = sorted((comparable(table, row) for row in rows), key=sales.null_last)
            if actual != want:
                problems.append(describe_differences(table, want, actual))
        statuses = connection.execute(
            "select status, count(*) filter (where issued_at is null), count(*) from billing.invoices group by status"
        ).fetchall()
        if any(status != "issued" or without_time for status, without_time, _ in statuses):
            problems.append(f"billing.invoices: (status, rows without issued_at, rows) {statuses}")
        rejects = connection.execute(
            "select source, line_number from meta.rejects where pipeline = 'billing' order by source, line_number"
        ).fetchall()
        if rejects != expected["rejects"]:
            missing = sorted(set(expected["rejects"]) - set(rejects))[:10]
            unexpected = sorted(set(rejects) - set(expected["rejects"]))[:10]
            problems.append(f"meta.rejects: missing {missing}, unexpected {unexpected} (first 10 of each)")
    assert not problems, "the warehouse differs from the independent computation:\n" + "\n".join(problems)
