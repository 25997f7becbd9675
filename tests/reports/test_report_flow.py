"""The report flow on the Prefect test server: its page, its markdown and image artifacts, and the command line."""

import base64
from pathlib import Path

import pytest
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId
from report_pages import load_sample_logs, read_page
from warehouse_snapshot import foreign_database, query

from flows.report import main, report

pytestmark = pytest.mark.usefixtures("prefect_server")


@pytest.fixture(scope="module")
def warehouse(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("report-flow") / "warehouse.duckdb"
    load_sample_logs(path)
    return path


def artifacts_of(flow_run_id) -> dict:
    with get_client(sync_client=True) as client:
        found = client.read_artifacts(flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[flow_run_id])))
    return {artifact.key: artifact for artifact in found}


def test_the_flow_writes_the_page_and_publishes_its_figures_and_main_chart(warehouse, tmp_path):
    state = report(period="daily", date="2026-10-02", warehouse=warehouse, out=tmp_path, return_state=True)

    assert state.is_completed(), state.message
    assert state.message == "daily report 2026-10-02: daily-2026-10-02.html"
    summary = state.result()
    page = tmp_path / "daily-2026-10-02.html"
    assert summary.path == str(page) and summary.sections == ["traffic", "sessions"]
    [(requests,)] = query(warehouse, "select count(*) from logs.requests where day = '2026-10-02'")
    assert read_page(page.read_text()).figures["requests"] == str(requests)
    artifacts = artifacts_of(state.state_details.flow_run_id)
    markdown = artifacts["report-daily"].data
    assert f"| requests | {requests:,} |" in markdown
    assert f"({page.resolve().as_uri()})" in markdown and "Period 2026-10-02 to 2026-10-02 (UTC)" in markdown
    image = artifacts["report-daily-chart"]
    assert image.type == "image" and image.data.startswith("data:image/svg+xml;base64,")
    svg = base64.b64decode(image.data.removeprefix("data:image/svg+xml;base64,")).decode()
    assert svg.startswith('<svg xmlns="http://www.w3.org/2000/svg"') and svg.count('class="mark"') == 3 * 24


def test_the_command_writes_the_report_and_prints_where(warehouse, tmp_path, capsys):
    code = main(["--period", "weekly", "--date", "2026-W40", "--warehouse", str(warehouse), "--out", str(tmp_path)])

    assert code == 0
    page = tmp_path / "weekly-2026-W40.html"
    assert f"weekly report 2026-W40: {page.resolve().as_uri()}" in capsys.readouterr().out
    assert read_page(page.read_text()).sections == ["traffic", "top_paths", "sessions"]


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--period", "yearly"], "report: period 'yearly' is not one of daily, weekly, monthly"),
        (["--period", "daily", "--date", "2026-10-32"], "report: date '2026-10-32' is not a daily report's date"),
        (["--period", "weekly", "--date", "2026-W54"], "report: date '2026-W54' is not a weekly report's date"),
        (["--warehouse", "missing.duckdb"], "report: no warehouse at {cwd}/missing.duckdb"),
    ],
    ids=["unknown period", "bad date", "no such week", "missing warehouse"],
)
def test_bad_input_stops_the_command_with_one_line_and_exit_code_2(arguments, message, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)

    code = main(arguments)

    error = capsys.readouterr().err
    assert code == 2
    assert error.startswith(message.format(cwd=tmp_path)) and error.count("\n") == 1, error
    assert not list(tmp_path.iterdir()), "nothing is created, not even the warehouse"


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda path: path.write_text("id,name\n1,a\n"), "is not a DuckDB database (nothing was written to it)"),
        (lambda path: path.mkdir(), "is a folder or a device, not a DuckDB file"),
        (foreign_database, "is a DuckDB database but not a batchyard warehouse (it holds main.orders)"),
    ],
    ids=["text-file", "folder", "foreign-duckdb"],
)
def test_a_file_that_is_not_a_warehouse_stops_the_command_with_one_line_and_is_left_as_it_is(
    tmp_path, capsys, make, message
):
    path = tmp_path / "warehouse.duckdb"
    make(path)
    before = path.read_bytes() if path.is_file() else None

    code = main(["--warehouse", str(path), "--out", str(tmp_path / "reports")])

    error = capsys.readouterr().err
    assert code == 2
    assert error.startswith("report: ") and message in error and error.count("\n") == 1, error
    assert (path.read_bytes() if path.is_file() else None) == before
    assert not (tmp_path / "reports").exists()


def test_a_date_at_the_end_of_the_calendar_is_one_line_not_an_overflow(warehouse, tmp_path, capsys):
    assert main(["--period", "weekly", "--date", "9999-12-31", "--warehouse", str(warehouse)]) == 2
    assert capsys.readouterr().err == "report: date '9999-12-31' is too far in the future for a weekly report\n"


@pytest.mark.parametrize(
    "parameters, message",
    [
        ({"period": "yearly"}, "yearly"),
        ({"period": "daily", "date": "2026-13-01"}, "2026-13-01"),
        ({"period": "weekly", "date": "9999-12-31"}, "9999"),
    ],
)
def test_a_bad_period_or_date_from_the_ui_fails_the_run_with_one_line_and_writes_nothing(
    warehouse, tmp_path, parameters, message
):
    out = tmp_path / "reports"

    state = report(warehouse=warehouse, out=out, return_state=True, **parameters)

    assert state.is_failed() and message in state.message and "\n" not in state.message
    assert not out.exists()


def test_a_file_that_is_not_a_warehouse_fails_the_run_with_one_line_from_the_ui(tmp_path):
    text = tmp_path / "notes.duckdb"
    text.write_text("not a database\n")

    state = report(warehouse=text, out=tmp_path / "reports", return_state=True)

    assert state.is_failed() and state.message == f"{text} is not a DuckDB database (nothing was written to it)"
    assert text.read_text() == "not a database\n"
