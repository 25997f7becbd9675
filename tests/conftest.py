"""Shared fixtures: one Prefect test server for the session, isolated Prefect state, tiny log files."""

import os
import shutil
import sys
import tempfile

# Before Prefect is imported anywhere: its results (the task cache) and database go to a throwaway home.
PREFECT_TEST_HOME = tempfile.mkdtemp(prefix="batchyard-tests-prefect-")
os.environ["PREFECT_HOME"] = PREFECT_TEST_HOME
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("PREFECT_LOGGING_TO_API_WHEN_MISSING_FLOW", "ignore")
# The commands the tests start run on Prefect's temporary server, as before: no local server outlives the tests.
os.environ.setdefault("BATCHYARD_LOCAL_SERVER", "off")

import pytest  # noqa: E402
from prefect.testing.utilities import prefect_test_harness  # noqa: E402

_EXIT_STATUS = pytest.StashKey[int]()


@pytest.fixture(scope="session")
def prefect_server():
    """A temporary Prefect server shared by every flow test (starting one costs ~10 s)."""
    with prefect_test_harness(server_startup_timeout=120):
        yield


def pytest_collection_modifyitems(config, items):
    """Files with slow end-to-end tests first. The workers take a file at a time (`--dist loadfile`); xdist's own
    order, by number of tests, put these files of one to three tests last, so the suite ended with one worker
    running them while the other had nothing left. Started first, their time overlaps the many short files'."""
    slow_files = {item.path for item in items if item.get_closest_marker("slow")}
    items.sort(key=lambda item: item.path not in slow_files)


def pytest_sessionfinish(session, exitstatus):
    session.config.stash[_EXIT_STATUS] = int(exitstatus)


@pytest.hookimpl(trylast=True)
def pytest_unconfigure(config):
    """Remove this process's throwaway Prefect home (each xdist worker has its own; left behind, every test run
    added three to /tmp), then leave without interpreter teardown, once pytest has reported everything: DuckDB
    2.0's nanobind bindings otherwise print a page of benign "leaked instance" warnings after the summary line (see
    tasks/kit/cli.py)."""
    shutil.rmtree(PREFECT_TEST_HOME, ignore_errors=True)
    if _EXIT_STATUS in config.stash:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(config.stash[_EXIT_STATUS])
