"""Reports: which days a period covers, every number a page shows against an independent query of the facts, the
sections a warehouse has data for, byte-identical pages, and the page as headless Chromium draws it."""

import json
import math
import shutil
from datetime import date, datetime, timedelta
from decimal import Decimal
from html.parser import HTMLParser
from pathlib import Path

import duckdb
import pytest
from browser import render_page, visible_text
from report_pages import load_sample_billing, load_sample_logs, load_sample_sales, png_pixels, read_page

from tasks.core.settings import PROJECT_ROOT
from tasks.pipelines import report_sections
from tasks.pipelines.access_logs.report_section import TRAFFIC, Traffic, TrafficBucket
from tasks.pipelines.sales.report_section import Sales
from tasks.reports.report import (
    PeriodInvalid,
    Report,
    ReportPeriod,
    ReportSection,
    SectionQueries,
    ShownSection,
    render_html,
    report_figures,
    resolve_period,
    write_report,
)
from tasks.warehouse.connection import open_warehouse

# Where the browser test leaves its screenshot for whoever debugs it (git-ignored, as the end-to-end tests' are).
SCREENSHOTS = PROJECT_ROOT / "test-artifacts"


# ----------------------------------------------------------------------------------------------------------------------
# Periods


@pytest.mark.parametrize(
    ("kind", "on", "today", "first", "last", "label"),
    [
        ("daily", "2026-10-02", date(2026, 11, 24), date(2026, 10, 2), date(2026, 10, 2), "2026-10-02"),
        ("daily", None, date(2026, 3, 1), date(2026, 2, 28), date(2026, 2, 28), "2026-02-28"),
        ("weekly", "2026-10-02", date(2026, 11, 24), date(2026, 9, 28), date(2026, 10, 4), "2026-W40"),
        ("weekly", "2026-09-28", date(2026, 11, 24), date(2026, 9, 28), date(2026, 10, 4), "2026-W40"),
        ("weekly", "2026-10-04", date(2026, 11, 24), date(2026, 9, 28), date(2026, 10, 4), "2026-W40"),
        ("weekly", "2026-W40", date(2026, 11, 24), date(2026, 9, 28), date(2026, 10, 4), "2026-W40"),
        ("weekly", "2021-01-01", date(2026, 11, 24), date(2020, 12, 28), date(2021, 1, 3), "2020-W53"),
        ("weekly", "2027-01-03", date(2026, 11, 24), date(2026, 12, 28), date(2027, 1, 3), "2026-W53"),
        ("weekly", "2026-W53", date(2026, 11, 24), date(2026, 12, 28), date(2027, 1, 3), "2026-W53"),
        ("weekly", "2024-12-30", date(2026, 11, 24), date(2024, 12, 30), date(2025, 1, 5), "2025-W01"),
        ("weekly", None, date(2026, 10, 5), date(2026, 9, 28), date(2026, 10, 4), "2026-W40"),
        ("weekly", None, date(2026, 10, 4), date(2026, 9, 21), date(2026, 9, 27), "2026-W39"),
        ("monthly", "2024-02-10", date(2026, 11, 24), date(2024, 2, 1), date(2024, 2, 29), "2024-02"),
        ("monthly", "2026-12-31", date(2026, 11, 24), date(2026, 12, 1), date(2026, 12, 31), "2026-12"),
        ("monthly", "2026-10", date(2026, 11, 24), date(2026, 10, 1), date(2026, 10, 31), "2026-10"),
        ("monthly", None, date(2026, 11, 1), date(2026, 10, 1), date(2026, 10, 31), "2026-10"),
        ("monthly", None, date(2026, 1, 15), date(2025, 12, 1), date(2025, 12, 31), "2025-12"),
    ],
    ids=[
        "a day",
        "default: yesterday, across a month end",
        "week of a Friday",
        "week of its Monday",
        "week of its Sunday",
        "week by ISO name",
        "week 53 of the year before",
        "week 53 into the next year",
        "week 53 by ISO name",
        "week 1 starting in the year before",
        "default on a Monday: last week",
        "default on a Sunday: the week before this one",
        "leap February",
        "December",
        "month by name",
        "default on the 1st: last month",
        "default in January: last December",
    ],
)
def test_a_period_covers_its_utc_days(kind, on, today, first, last, label):
    period = resolve_period(kind, on, today)

    assert (period.first_day, period.last_day, period.label) == (first, last, label)
    assert period.file_name == f"{kind}-{label}.html"
    assert period.days[0] == first and period.days[-1] == last and len(period.days) == (last - first).days + 1


def test_a_week_across_a_month_end_reports_the_invoices_of_both_months():
    assert resolve_period("weekly", "2026-10-01", date(2026, 11, 24)).months == ["2026-09", "2026-10"]
    assert resolve_period("monthly", "2026-10-01", date(2026, 11, 24)).months == ["2026-10"]


@pytest.mark.parametrize(
    ("kind", "on", "message"),
    [
        ("hourly", None, "not one of daily, weekly, monthly"),
        ("daily", "2026-02-30", "day is out of range"),
        ("daily", "02/10/2026", "write YYYY-MM-DD"),
        ("daily", "2026-10", "write YYYY-MM-DD"),
        ("weekly", "2025-W53", "Invalid week"),
        ("monthly", "2026-13", "month must be in 1..12"),
    ],
    ids=["unknown period", "no such day", "another date format", "a month for a day", "no week 53", "month 13"],
)
def test_a_period_that_cannot_be_understood_is_refused_with_the_reason(kind, on, message):
    with pytest.raises(PeriodInvalid, match=message):
        resolve_period(kind, on, date(2026, 11, 24))


# ----------------------------------------------------------------------------------------------------------------------
# Figures against the facts


@pytest.fixture(scope="module")
def warehouse(tmp_path_factory) -> Path:
    """The bundled access logs and sales exports, and October's billing, loaded as the flows load them."""
    path = tmp_path_factory.mktemp("report") / "warehouse.duckdb"
    load_sample_logs(path)
    load_sample_sales(path)
    load_sample_billing(path)
    return path


def make_page(warehouse: Path, kind: str, on: str) -> str:
    period = resolve_period(kind, on, date(2026, 11, 24))
    with open_warehouse(warehouse) as connection:
        report = report_figures(connection, period, str(warehouse), report_sections())
    return render_html(report)


def facts(warehouse: Path, sql: str, parameters: list | None = None) -> list[tuple]:
    """An independent query, on a read-only connection of its own."""
    with duckdb.connect(str(warehouse), read_only=True) as connection:
        return connection.execute(sql, parameters or []).fetchall()


def rate(part: int, whole: int) -> float | None:
    return part / whole if whole else None


def assert_rate(shown: str, expected: float | None) -> None:
    assert (shown == "" and expected is None) or math.isclose(float(shown), expected, rel_tol=1e-12), (shown, expected)


PERIODS = [("daily", "2026-10-02"), ("weekly", "2026-10-02"), ("monthly", "2026-10-15")]


@pytest.mark.parametrize(("kind", "on"), PERIODS, ids=[kind for kind, _ in PERIODS])
def test_traffic_agrees_with_the_requests_table(warehouse, kind, on):
    period = resolve_period(kind, on, date(2026, 11, 24))
    page = read_page(make_page(warehouse, kind, on))
    unit = "hour" if kind == "daily" else "day"
    rows = facts(
        warehouse,
        f"select date_trunc('{unit}', hour) as bucket, count(*), "
        "count(*) filter (where status not between 400 and 599), count(*) filter (where status between 400 and 499), "
        "count(*) filter (where status between 500 and 599), sum(bytes) "
        "from logs.requests where day >= ? and day < ? group by bucket",
        [period.first_day, period.next_day],
    )
    by_bucket = {bucket: counts for bucket, *counts in rows}
    step = timedelta(hours=1) if kind == "daily" else timedelta(days=1)
    start = datetime.combine(period.first_day, datetime.min.time())
    buckets = [start + step * index for index in range(24 if kind == "daily" else len(period.days))]
    expected = [by_bucket.get(bucket, [0, 0, 0, 0, 0]) for bucket in buckets]
    labels = [bucket.strftime("%H:00" if kind == "daily" else "%m-%d") for bucket in buckets]

    shown = page.tables["traffic"]
    assert [row[0] for row in shown] == labels
    assert [[int(value) for value in row[1:5]] + [int(row[6])] for row in shown] == expected
    for row, (requests, _, status_4xx, status_5xx, _) in zip(shown, expected, strict=True):
        assert_rate(row[5], rate(status_4xx + status_5xx, requests))
    requests, others, status_4xx, status_5xx, sent = (sum(column) for column in zip(*expected, strict=True))
    assert requests > 0 and status_4xx > 0 and status_5xx > 0
    assert {key: page.figures[key] for key in ("requests", "bytes", "status_4xx", "status_5xx")} == {
        "requests": str(requests),
        "bytes": str(sent),
        "status_4xx": str(status_4xx),
        "status_5xx": str(status_5xx),
    }
    assert_rate(page.figures["error_rate"], rate(status_4xx + status_5xx, requests))
    assert_rate(page.figures["server_error_rate"], rate(status_5xx, requests))
    # the chart draws the same numbers: one mark per bucket and status class
    drawn = {(series, label): int(value) for series, label, value in page.marks["traffic"]}
    for label, (_, other, status_4xx, status_5xx, _) in zip(labels, expected, strict=True):
        assert (drawn["1xx-3xx", label], drawn["4xx", label], drawn["5xx", label]) == (other, status_4xx, status_5xx)
    error_points = {label: float(value) for series, label, value in page.marks["error_rate"] if series == "4xx + 5xx"}
    assert error_points == {
        label: rate(row[2] + row[3], row[0]) for label, row in zip(labels, expected, strict=True) if row[0]
    }

    clients = facts(
        warehouse,
        "select day, count(*), count(distinct client) from logs.requests where day >= ? and day < ? "
        "group by day order by day",
        [period.first_day, period.next_day],
    )
    assert page.tables["days"] == [[day.isoformat(), str(count), str(distinct)] for day, count, distinct in clients]


@pytest.mark.parametrize(("kind", "on"), PERIODS, ids=[kind for kind, _ in PERIODS])
def test_top_paths_are_the_periods_most_requested_paths(warehouse, kind, on):
    period = resolve_period(kind, on, date(2026, 11, 24))
    page = read_page(make_page(warehouse, kind, on))
    counts = facts(
        warehouse,
        "select path, count(*) as n from logs.requests where day >= ? and day < ? group by path "
        "order by n desc, path limit 10",
        [period.first_day, period.next_day],
    )
    (total,) = facts(
        warehouse, "select count(*) from logs.requests where day >= ? and day < ?", [period.first_day, period.next_day]
    )[0]

    shown = page.tables["top_paths"]
    assert [(int(rank), path, int(requests)) for rank, path, requests, _ in shown] == [
        (rank, path, count) for rank, (path, count) in enumerate(counts, start=1)
    ]
    for row, (_, count) in zip(shown, counts, strict=True):
        assert_rate(row[3], count / total)
    assert [(label, int(value)) for _, label, value in page.marks["top_paths"]] == counts
    if kind == "daily":  # for one day, the period's top ten is the day's row of the mart
        mart = facts(warehouse, "select path, requests from logs.top_paths where day = ? order by rank", [on])
        assert mart == counts


@pytest.mark.parametrize(("kind", "on"), PERIODS, ids=[kind for kind, _ in PERIODS])
def test_sessions_agree_with_the_sessions_table_and_the_period_rates_are_weighted_by_sessions(warehouse, kind, on):
    period = resolve_period(kind, on, date(2026, 11, 24))
    page = read_page(make_page(warehouse, kind, on))
    where = "start_utc >= ? and start_utc < ?"
    bounds = [period.first_day, period.next_day]
    per_day = facts(
        warehouse,
        "select cast(start_utc as date) as day, count(*), count(distinct (client, user_agent)), "
        "count(*) filter (where bounced), sum(pages), sum(epoch(end_utc) - epoch(start_utc)) "
        f"from logs.sessions where {where} group by day order by day",
        bounds,
    )

    shown = page.tables["sessions"]
    assert [(row[0], int(row[1]), int(row[2])) for row in shown] == [
        (day.isoformat(), sessions, visitors) for day, sessions, visitors, *_ in per_day
    ]
    for row, (_, sessions, _, bounced, pages, seconds) in zip(shown, per_day, strict=True):
        assert_rate(row[3], bounced / sessions)
        assert math.isclose(float(row[4]), pages / sessions, rel_tol=1e-12)
        assert math.isclose(float(row[5]), seconds / sessions, rel_tol=1e-12)
    sessions = sum(row[1] for row in per_day)
    (visitors,) = facts(
        warehouse, f"select count(distinct (client, user_agent)) from logs.sessions where {where}", bounds
    )[0]
    assert (int(page.figures["sessions"]), int(page.figures["visitors"])) == (sessions, visitors)
    assert math.isclose(float(page.figures["bounce_rate"]), sum(row[3] for row in per_day) / sessions, rel_tol=1e-9)
    assert math.isclose(float(page.figures["pages_per_session"]), sum(row[4] for row in per_day) / sessions)
    assert math.isclose(float(page.figures["avg_duration_s"]), sum(row[5] for row in per_day) / sessions)
    if kind != "daily":  # an average of the days' rates would be another number
        unweighted = sum(row[3] / row[1] for row in per_day) / len(per_day)
        assert not math.isclose(float(page.figures["bounce_rate"]), unweighted, rel_tol=1e-6)
    assert [(label, int(value)) for _, label, value in page.marks["sessions"]] == [
        (day.strftime("%m-%d"), count) for day, count, *_ in per_day
    ]


@pytest.mark.parametrize(("kind", "on"), PERIODS, ids=[kind for kind, _ in PERIODS])
def test_revenue_and_customers_agree_with_the_orders(warehouse, kind, on):
    period = resolve_period(kind, on, date(2026, 11, 24))
    html = make_page(warehouse, kind, on)
    page = read_page(html)
    revenue_orders = (
        "from sales.fact_orders where status in ('shipped', 'completed') and order_day >= ? and order_day < ?"
    )
    bounds = [period.first_day, period.next_day]
    per_day = dict(
        (day, (orders, usd))
        for day, orders, usd in facts(
            warehouse,
            f"select order_day, count(*), case when count(amount_usd) = count(*) then sum(amount_usd) end "
            f"{revenue_orders} group by order_day",
            bounds,
        )
    )
    expected_days = [(day, *per_day.get(day, (0, Decimal("0.00")))) for day in period.days]

    shown = page.tables["revenue_days"]
    assert [(row[0], int(row[1]), None if row[2] == "" else Decimal(row[2])) for row in shown] == [
        (day.isoformat(), orders, usd) for day, orders, usd in expected_days
    ]
    known = [usd for _, _, usd in expected_days if usd is not None]
    unknown_days = [day for day, _, usd in expected_days if usd is None]
    assert page.figures["orders"] == str(sum(orders for _, orders, _ in expected_days))
    # a day without a rate leaves the period's USD revenue at that of the other days, with a caveat naming the day
    assert page.figures["revenue_usd"] == (str(sum(known)) if known else "")
    if unknown_days:
        caveat = html.split('data-caveat="revenue_usd">', 1)[1].split("</p>", 1)[0]
        assert all(day.isoformat() in caveat for day in unknown_days), caveat
        for day in unknown_days:
            assert f'<g class="unknown" data-label="{day.strftime("%m-%d")}">' in html
    else:
        assert "data-caveat" not in html and '<g class="unknown"' not in html
    per_currency = facts(
        warehouse,
        "select currency, count(*), sum(items), sum(amount), sum(amount_usd) "  # sum: of the orders with a rate
        f"{revenue_orders} group by currency order by currency",
        bounds,
    )
    assert [
        (currency, int(orders), int(items), Decimal(revenue), None if usd == "" else Decimal(usd))
        for currency, orders, items, revenue, usd in page.tables["revenue_currencies"]
    ] == per_currency
    (active,) = facts(warehouse, f"select count(distinct customer_id) {revenue_orders}", bounds)[0]
    (new,) = facts(
        warehouse,
        "select count(*) from (select customer_id, min(order_day) as first_day from sales.fact_orders "
        "where status in ('shipped', 'completed') group by customer_id) where first_day >= ? and first_day < ?",
        bounds,
    )[0]
    assert (int(page.figures["new_customers"]), int(page.figures["active_customers"])) == (new, active)
    assert active > 0
    drawn = {label: value for _, label, value in page.marks["revenue"]}
    for day, _, usd in expected_days:
        assert drawn[day.strftime("%m-%d")] == ("" if usd is None else str(float(usd)))


@pytest.mark.parametrize(("kind", "on"), PERIODS, ids=[kind for kind, _ in PERIODS])
def test_invoice_totals_are_those_of_the_months_the_period_touches(warehouse, kind, on):
    period = resolve_period(kind, on, date(2026, 11, 24))
    page = read_page(make_page(warehouse, kind, on))
    totals = facts(
        warehouse,
        "select period, currency, count(*), sum(total) from billing.invoices where list_contains(?, period) "
        "group by all order by all",
        [period.months],
    )

    assert totals, "October's invoices are issued"
    assert [
        (month, currency, int(invoices), Decimal(total)) for month, currency, invoices, total in page.tables["invoices"]
    ] == totals


def test_a_period_without_data_says_so_in_every_section(warehouse):
    page = read_page(make_page(warehouse, "daily", "2026-11-20"))

    assert page.sections == ["traffic", "top_paths", "sessions", "revenue", "invoices"]
    assert page.empty_messages == 5
    assert not any(page.marks.values()) and not page.tables


def test_a_warehouse_with_access_logs_only_has_no_revenue_or_invoice_section(tmp_path):
    path = tmp_path / "warehouse.duckdb"
    load_sample_logs(path)

    page = read_page(make_page(path, "daily", "2026-10-02"))

    assert page.sections == ["traffic", "top_paths", "sessions"]
    assert page.figures["requests"] == str(
        facts(path, "select count(*) from logs.requests where day = '2026-10-02'")[0][0]
    )


def test_the_same_warehouse_gives_the_same_bytes(warehouse, tmp_path):
    period = resolve_period("weekly", "2026-10-02", date(2026, 11, 24))
    pages = []
    for attempt in ("first", "second"):
        with open_warehouse(warehouse) as connection:
            report = report_figures(connection, period, str(warehouse), report_sections())
        pages.append(write_report(report, tmp_path / attempt).read_bytes())

    assert pages[0] == pages[1]
    assert b"weekly report 2026-W40" in pages[0]


def read_readings(queries: SectionQueries) -> list[tuple]:
    return queries.rows("readings")


def test_a_pipeline_adds_a_section_from_its_own_folder_and_it_shows_once_the_pipeline_loaded(tmp_path):
    """A section is a query, a fragment and a function in the pipeline's folder: the report's code is not touched."""
    folder = tmp_path / "sensors" / "report"
    folder.mkdir(parents=True)
    (folder / "readings.sql").write_text("select count(*) as batches from meta.batches where pipeline = 'sensors'")
    (folder / "readings.html").write_text(
        '{% from "macros.html" import source with context %}<section id="readings" data-section="readings">'
        '<h2>Readings</h2>{{ source(["sensors.hourly"]) }}<p data-batches="{{ figures[0][0] }}"></p></section>\n'
    )
    readings = ReportSection("readings", "sensors", folder, read_readings, order=50)
    period = resolve_period("daily", "2026-10-02", date(2026, 11, 24))
    warehouse = tmp_path / "warehouse.duckdb"
    with open_warehouse(warehouse) as connection:
        before = report_figures(connection, period, str(warehouse), [*report_sections(), readings])
        connection.execute(
            "insert into meta.batches by name select 'b1' as batch_id, 'sensors' as pipeline, 'r.csv' as source, "
            "'f' as fingerprint, 1 as size_bytes, 'loaded' as status, 1 as rows_in, 1 as rows_loaded, "
            "0 as rows_rejected, 1 as bytes_read, timestamptz '2026-10-02 01:00:00+00' as started_at, "
            "timestamptz '2026-10-02 01:00:05+00' as finished_at"
        )
        after = report_figures(connection, period, str(warehouse), [*report_sections(), readings])

    assert before.section_names == [] and "nothing to report" in render_html(before)
    assert after.section_names == ["readings"]
    assert read_page(render_html(after)).sections == ["readings"]
    assert 'data-batches="1"' in render_html(after)


def test_every_pipeline_folder_with_a_report_section_is_found():
    found = {(section.pipeline, section.name) for section in report_sections()}
    declared = {folder.parent.name for folder in (PROJECT_ROOT / "tasks" / "pipelines").glob("*/report_section.py")}
    assert {pipeline for pipeline, _ in found} == declared
    assert ("access_logs", "traffic") in found and ("billing", "invoices") in found


def test_text_from_the_data_is_escaped():
    period = ReportPeriod("daily", date(2026, 10, 2), date(2026, 10, 2), "2026-10-02")
    buckets = [TrafficBucket(datetime(2026, 10, 2, hour), 0, 0, 0, 0) for hour in range(24)]
    buckets[3] = TrafficBucket(datetime(2026, 10, 2, 3), 2, 10, 1, 0)
    hostile = '/<script>alert("x")</script>&q'
    report = Report(period, "w.duckdb", None, (ShownSection(TRAFFIC, Traffic(buckets, [], [(1, hostile, 2)])),))

    html = render_html(report)

    assert "<script>" not in html
    assert read_page(html).tables["top_paths"][0][1] == hostile
    assert [label for _, label, _ in read_page(html).marks["top_paths"]] == [hostile]


# ----------------------------------------------------------------------------------------------------------------------
# In a browser

# Measures every chart mark as laid out, into an attribute --dump-dom prints; added to a copy of the page in the test
# only (the report itself has no script).
MEASURE = """<script>
document.body.setAttribute("data-measured", JSON.stringify(
  Array.from(document.querySelectorAll("svg.chart")).map(svg => ({
    chart: svg.closest("figure").dataset.chartOf,
    width: svg.getBoundingClientRect().width,
    marks: Array.from(svg.querySelectorAll(".mark")).map(mark => {
      const box = mark.getBoundingClientRect();
      return [box.width, box.height];
    }),
  }))));
</script>
</body>"""


@pytest.mark.slow
def test_chromium_draws_the_charts(warehouse, tmp_path):
    period = resolve_period("weekly", "2026-10-02", date(2026, 11, 24))
    with open_warehouse(warehouse) as connection:
        report = report_figures(connection, period, str(warehouse), report_sections())
    page = write_report(report, tmp_path)
    measured_page = tmp_path / "measured.html"
    measured_page.write_text(page.read_text().replace("</body>", MEASURE))
    screenshot = SCREENSHOTS / "report-weekly.png"

    dom = render_page(measured_page.as_uri(), screenshot, window_size=(900, 1000))
    print(f"screenshot of {page}: {screenshot}")

    measured = json.loads(read_page_attribute(dom, "data-measured"))
    charts = {chart["chart"]: chart for chart in measured}
    assert set(charts) == {"traffic", "error_rate", "top_paths", "sessions", "bounce_rate", "revenue"}, screenshot
    for name, chart in charts.items():
        assert chart["width"] > 300, f"{name} is {chart['width']} px wide (see {screenshot})"
    drawn_bars = [width for width, height in charts["traffic"]["marks"] if width > 0 and height > 0]
    assert len(drawn_bars) >= 3 * 4, f"the days with requests have three status bars each (see {screenshot})"
    assert all(width > 4 and height > 4 for width, height in charts["error_rate"]["marks"]), screenshot
    # the screenshot shows them: the top of the page holds the traffic chart, whose 1xx-3xx bars are #0072b2
    width, height, pixels = png_pixels(screenshot)
    assert (width, height) == (900, 1000)
    bar_blue = sum(pixel == (0, 0x72, 0xB2) for pixel in pixels)
    assert bar_blue > 5_000, f"{bar_blue} pixels of the bars' blue in {screenshot}"
    assert len(set(pixels)) > 50, f"only {len(set(pixels))} colours in {screenshot}"
    assert sum(pixel != (255, 255, 255) for pixel in pixels) > 0.05 * len(pixels), screenshot
    shutil.copy(page, SCREENSHOTS / page.name)  # the page beside its screenshot


def read_page_attribute(dom: str, name: str) -> str:
    found: list[str] = []

    class Finder(HTMLParser):
        def handle_starttag(self, tag, attrs):
            found.extend(value for key, value in attrs if key == name)

    Finder().feed(dom)
    assert found, f"no {name} attribute in the rendered page"
    return found[0]


def sales_of(days: list[tuple[date, int, Decimal | None]]) -> Sales:
    return Sales(days=days, currencies=[], new_customers=0, active_customers=0)


@pytest.mark.parametrize(
    ("revenues", "known", "caveat"),
    [
        (["1.00", "2.50"], Decimal("3.50"), ""),
        (["1.00", None, "2.50"], Decimal("3.50"), "without 2026-10-02: no exchange rate for that day"),
        ([None, "4.00", None], Decimal("4.00"), "without 2026-10-01, 2026-10-03: no exchange rate for those days"),
        ([None, None], None, "without 2026-10-01, 2026-10-02: no exchange rate for those days"),
    ],
    ids=["all known", "one day without a rate", "two days without", "none known"],
)
def test_a_day_without_a_rate_leaves_the_revenue_of_the_other_days_with_a_caveat(revenues, known, caveat):
    days = [(date(2026, 10, 1 + index), 1, None if usd is None else Decimal(usd)) for index, usd in enumerate(revenues)]
    sales = sales_of(days)
    assert (sales.revenue_usd, sales.revenue_caveat) == (known, caveat)


@pytest.mark.slow
def test_chromium_shows_the_weeks_known_revenue_and_marks_the_day_without_a_rate(warehouse, tmp_path):
    # in the sample, 2026-10-04 has CHF and GBP orders but no rate for either: the rest of week 40 is known
    [(missing,)] = facts(
        warehouse,
        "select distinct day from sales.missing_fx_rates where day between ? and ?",
        [
            date(2026, 9, 28),
            date(2026, 10, 4),
        ],
    )
    assert missing == date(2026, 10, 4)
    (known,) = facts(
        warehouse,
        "select sum(amount_usd) from sales.fact_orders where status in ('shipped', 'completed') "
        "and order_day between ? and ? and order_day <> ?",
        [date(2026, 9, 28), date(2026, 10, 4), missing],
    )[0]
    period = resolve_period("weekly", "2026-10-02", date(2026, 11, 24))
    with open_warehouse(warehouse) as connection:
        page = write_report(report_figures(connection, period, str(warehouse), report_sections()), tmp_path)
    screenshot = SCREENSHOTS / "report-weekly-revenue.png"
    revenue_only = tmp_path / "revenue.html"  # the revenue section at the top of the window, for the screenshot
    html = page.read_text()
    revenue_only.write_text(
        html.replace("</head>", "<style>section:not(#revenue) { display: none; }</style></head>", 1)
    )

    text = visible_text(render_page(revenue_only.as_uri(), screenshot, window_size=(1000, 1400)))

    shown = f"{known:,.2f}"
    for expected in (
        f"Revenue USD (known days)\n{shown}",
        f"USD revenue without {missing}: no exchange rate for that day; {shown} is the revenue of the other days.",
        f"{missing}\n9\n? unknown: no exchange rate",
        f"? without {missing}",
    ):
        assert expected in text, f"{expected!r} not on the page (see {screenshot}):\n{text}"
    assert "Revenue USD\nunknown" not in text, screenshot
    shutil.copy(page, SCREENSHOTS / "report-weekly-revenue.html")
