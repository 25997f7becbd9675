"""The flows' shared command line (tasks/kit/cli.py): bad settings stop the command with one line and exit code 2,
before anything runs."""

import contextlib
import importlib
import io
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from prefect import Flow
from project_code import PROJECT_ROOT

import flows.access_logs
from tasks.core.settings import SettingError
from tasks.kit.cli import CommandRefused
from tasks.warehouse.connection import prepare_warehouse


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--dask-workers", "-1"], "argument --dask-workers: must be from 0 to 256, not -1"),
        (
            ["--chunk-mb", "99999999999"],
            "argument --chunk-mb: must be a number from 0.0009765625 to 1,024 (MiB, 1 "
            "KiB to 1 GiB: 0.0625 is 64 KiB), not '99999999999'",
        ),
        (
            ["--chunk-mb", "0"],
            "argument --chunk-mb: must be a number from 0.0009765625 to 1,024 (MiB, 1 KiB to 1 "
            "GiB: 0.0625 is 64 KiB), not '0'",
        ),
        (["--chunk-mb", "lots"], "(MiB, 1 KiB to 1 GiB: 0.0625 is 64 KiB), not 'lots'"),
        (["--max-reject-rate", "5"], "argument --max-reject-rate: must be from 0 to 1 (0.05 is 5%), not 5"),
        (["--reject-rate-min-rows", "-1"], "argument --reject-rate-min-rows: must be from 0 to 1,000,000,000, not -1"),
    ],
    ids=["negative-workers", "huge-chunk", "zero-chunk", "not-a-number", "rate-as-percent", "negative-minimum-rows"],
)
def test_a_bad_setting_stops_the_command_with_one_line(capsys, arguments, message):
    with pytest.raises(SystemExit) as stopped:
        flows.access_logs.main(arguments)

    assert stopped.value.code == 2
    assert capsys.readouterr().err.strip().splitlines()[-1].endswith(message)


NUMBER_OPTIONS = {
    "--chunk-mb": (float, 1 / 1024, 1024),
    "--dask-workers": (int, 0, 256),
    "--session-gap-minutes": (int, 1, 525_600),
    "--reject-rate-min-rows": (int, 0, 1_000_000_000),
}


@settings(max_examples=100, deadline=None)
@given(option=st.sampled_from(sorted(NUMBER_OPTIONS)), value=st.text(max_size=12))
def test_any_text_for_a_number_is_a_number_in_range_or_one_line_and_exit_2(option, value):
    kind, lowest, highest = NUMBER_OPTIONS[option]
    try:
        valid = lowest <= kind(value) <= highest
    except ValueError:
        valid = False
    if valid:
        return  # a valid value runs the flow: the flow tests do that
    error = io.StringIO()
    with pytest.raises(SystemExit) as stopped, contextlib.redirect_stderr(error):
        flows.access_logs.main([f"{option}={value}"])
    assert stopped.value.code == 2
    assert f": error: argument {option}: " in error.getvalue().splitlines()[-1]


# Every command line, fed arbitrary arguments: a valid parse, argparse's usage and error (exit 2), or one line (exit
# 2) — never a traceback or a hang. Only each command's parse-and-check step runs: it writes nothing and starts no
# Prefect server; running the flows is the flow tests' business.

FLOWS = PROJECT_ROOT / "flows"


def command_name(module_name: str) -> str:
    """The name a command says its refusals under: its flow's name, or the module's for a plain command."""
    module = importlib.import_module(module_name)
    flows = [
        value.name for value in vars(module).values() if isinstance(value, Flow) and value.__module__ == module_name
    ]
    return flows[0] if flows else module_name.rsplit(".", 1)[-1]


# Every command there is, found: each flow file's, and serve's.
COMMANDS = {
    command_name(module): module
    for module in [*(f"flows.{path.stem}" for path in sorted(FLOWS.glob("[!_]*.py"))), "deployments.serve"]
}
OPTIONS = [
    "--source",
    "--warehouse",
    "--chunk-mb",
    "--file",
    "--first-day",
    "--last-day",
    "--reload",
    "--max-reject-rate",
    "--reject-rate-min-rows",
    "--dask-address",
    "--dask-workers",
    "--pattern",
    "--session-gap-minutes",
    "--period",
    "--out",
    "--date",
    "--limit",
    "--pipeline",
    "--landing",
    "--interval",
    "--prefect-file",
    "--reducers",
    "--split-mb",
    "--no-combiner",
    "--tables",
    "--schema",
    "--batch-rows",
    "--key",
    "--",
    "-",
]
VALUES = st.one_of(
    st.text(max_size=12),
    st.sampled_from(["0", "-1", "1", "1e9", "nan", "inf", "2026-10-01", "2026-W40", "2026-13", ".", "..", "/"]),
)
# Mostly options with values, so that most examples get past argparse to the commands' own checks.
ARGUMENTS = st.lists(
    st.one_of(
        st.tuples(st.sampled_from(OPTIONS), VALUES).map(list),
        st.builds(lambda option, value: [f"{option}={value}"], st.sampled_from(OPTIONS), VALUES),
        st.one_of(st.sampled_from(OPTIONS), VALUES).map(lambda argument: [argument]),
    ),
    max_size=4,
).map(lambda groups: [argument for group in groups for argument in group])


@pytest.fixture(scope="module")
def elsewhere(tmp_path_factory):
    """A folder to run in, holding nothing, where arbitrary relative paths land; and an empty warehouse elsewhere,
    so that no command reads the project's own (another run may hold its lock) and the readers get past it."""
    warehouse = tmp_path_factory.mktemp("warehouse") / "warehouse.duckdb"
    prepare_warehouse(warehouse)
    return tmp_path_factory.mktemp("arbitrary-arguments"), ["--warehouse", str(warehouse)]


@pytest.mark.parametrize("command", COMMANDS)
def test_any_arguments_are_a_valid_parse_or_one_line_and_exit_2_never_a_traceback(command, elsewhere):
    module = importlib.import_module(COMMANDS[command])
    folder, warehouse = elsewhere
    takes_a_warehouse = command not in ("landing-watcher", "serve")

    @settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(arguments=ARGUMENTS)
    def parses_or_refuses(arguments):
        out, error = io.StringIO(), io.StringIO()
        argv = (warehouse if takes_a_warehouse else []) + arguments
        with contextlib.chdir(folder), contextlib.redirect_stdout(out), contextlib.redirect_stderr(error):
            try:
                module.parse_arguments(argv)
            except SystemExit as stopped:  # argparse: usage and error, or --help
                event("argparse refused")
                assert stopped.code in (0, 2), (argv, stopped.code)
                if stopped.code == 2:  # the error line may hold the argument's own line breaks
                    assert error.getvalue().startswith("usage: ") and ": error: " in error.getvalue(), error.getvalue()
                    assert "Traceback" not in error.getvalue()
                return
            except CommandRefused as refused:
                event("refused in one line")
                assert "\n" not in str(refused) and str(refused).startswith(f"{command}: "), str(refused)
                return
            except SettingError as refused:  # status: a bad BATCHYARD_* value (none here)
                raise AssertionError(f"no setting is bad in this test: {refused}") from None
        event("valid")
        assert not error.getvalue(), error.getvalue()
        assert list(folder.iterdir()) == [], "parsing wrote nothing"

    parses_or_refuses()


# Run as a script, a command answers --help and a mistyped argument before Prefect, Polars or DuckDB are imported
# (those take seconds): what it imported is asked of the process itself, so no clock is involved.
ANSWER_WITHOUT_HEAVY_IMPORTS = """
import runpy, sys
path = sys.argv[1]
sys.argv = [path, *sys.argv[2:]]
try:
    runpy.run_path(path, run_name="__main__")
    code = None
except SystemExit as stopped:
    code = stopped.code
heavy = sorted(name for name in ("prefect", "polars", "duckdb", "pandera", "pyarrow") if name in sys.modules)
sys.__stderr__.write(f"\\nexit {code} after importing {heavy}\\n")
"""


@pytest.mark.parametrize("command", COMMANDS)
@pytest.mark.parametrize(("argument", "code"), [("--help", 0), ("--no-such-option", 2)])
def test_help_and_a_mistyped_argument_answer_before_the_heavy_imports(command, argument, code):
    script = Path(importlib.import_module(COMMANDS[command]).__file__)
    answered = subprocess.run(
        [sys.executable, "-c", ANSWER_WITHOUT_HEAVY_IMPORTS, str(script), argument],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert answered.stderr.splitlines()[-1] == f"exit {code} after importing []", answered.stderr
    assert ("usage: " in answered.stdout) if code == 0 else ("error: unrecognized arguments" in answered.stderr)


TEARDOWN_WRITES_TO_STDERR = """
import atexit
import os
import sys

import tasks.kit.cli


class WritesWhenTornDown:
    # as DuckDB's nanobind bindings do when the interpreter frees what they still hold
    def __del__(self):
        os.write(2, b"nanobind: leaked 3 instances!\\n")


held_until_teardown = WritesWhenTornDown()
atexit.register(lambda: print("a hook registered during the run still speaks", file=sys.stderr, flush=True))
print("the run's own output", file=sys.stderr, flush=True)
sys.exit(3)
"""


def test_a_process_that_imported_the_flows_cli_ends_with_its_own_output_and_code_and_no_teardown_noise():
    ended = subprocess.run(
        [sys.executable, "-c", TEARDOWN_WRITES_TO_STDERR],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )

    assert ended.returncode == 3
    assert ended.stderr.splitlines() == [
        "the run's own output",
        "a hook registered during the run still speaks",
    ]
