"""Shared fixtures: one Prefect test server for the session, isolated Prefect state, tiny log files."""

import os
import tempfile
from pathlib import Path

# Before Prefect is imported anywhere: its results (the task cache) and database go to a throwaway home.
os.environ["PREFECT_HOME"] = tempfile.mkdtemp(prefix="batchyard-tests-prefect-")
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("PREFECT_LOGGING_TO_API_WHEN_MISSING_FLOW", "ignore")

import pytest  # noqa: E402
from prefect.testing.utilities import prefect_test_harness  # noqa: E402

PROJECT_ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def prefect_server():
    """A temporary Prefect server shared by every flow test (starting one costs ~10 s)."""
    with prefect_test_harness(server_startup_timeout=120):
        yield
