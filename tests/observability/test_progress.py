import logging
from pathlib import Path
from types import SimpleNamespace

import pytest

from tasks.core.batches import Batch
from tasks.observability import progress
from tasks.pipelines.migrate import presentation

BATCH = Batch(pipeline="access_logs", source="/logs/a.log", path=Path("/logs/a.log"), fingerprint="f", size_bytes=1000)


@pytest.fixture
def server(monkeypatch):
    """What reaches the server: ("create", percent) and ("update", percent), in order."""
    writes: list[tuple[str, float]] = []
    monkeypatch.setattr(
        progress, "create_progress_artifact", lambda value, description: writes.append(("create", value)) or "id"
    )
    monkeypatch.setattr(progress, "update_progress_artifact", lambda artifact, value: writes.append(("update", value)))
    monkeypatch.setattr(progress, "get_run_logger", lambda: logging.getLogger("test"))
    return writes


def clock_at(monkeypatch, *seconds: float) -> None:
    """Only this module's clock: patching `time.monotonic` itself once stopped Prefect's event loop thread in the same
    process when the ticks ran out, failing a later test's teardown."""
    ticks = iter(seconds)
    monkeypatch.setattr(progress, "monotonic", lambda: next(ticks))


def test_a_batch_still_staging_after_a_second_gets_an_artifact_updated_at_most_once_a_second(server, monkeypatch):
    clock_at(monkeypatch, 0.0, 0.2, 0.5, 1.1, 1.3, 1.4, 1.5, 1.6)

    shown = progress.BatchProgress(BATCH)  # at 0.0
    for fraction in (0.25, 0.5, 0.75, 0.8, 1.0, 1.0, 1.0):  # at 0.2, 0.5, 1.1, 1.3, 1.4, 1.5, 1.6
        shown.report(fraction)

    # created at 75% once a second had passed, 0.8 within a second of it left out, the end once
    assert server == [("create", 75.0), ("update", 100.0)]


def test_a_batch_staged_within_a_second_writes_nothing_to_the_server(server, monkeypatch):
    clock_at(monkeypatch, 0.0, 0.4, 0.9)

    shown = progress.BatchProgress(BATCH)
    shown.report(0.5)
    shown.report(1.0)

    assert server == []


def test_the_runs_progress_exists_from_the_start_and_ends_at_100_whatever_the_pace(server, monkeypatch):
    clock_at(monkeypatch, 0.0, 0.1, 0.2, 1.5, 1.6)
    monkeypatch.setattr(progress, "as_completed", iter)

    assert list(progress.completed_in_turn(["a", "b", "c", "d"], "staging", "batches")) == ["a", "b", "c", "d"]
    assert server == [("create", 0.0), ("update", 75.0), ("update", 100.0)]


def test_a_resumed_copy_shows_where_it_starts_then_at_most_once_a_second_and_its_end(server, monkeypatch, caplog):
    clock_at(monkeypatch, 0.0, 0.3, 0.6, 1.2, 1.5, 1.7)
    monkeypatch.setattr(presentation, "get_run_logger", lambda: logging.getLogger("test"))
    shown = presentation.CopyProgress(SimpleNamespace(description="orders"))

    with caplog.at_level(logging.INFO, logger="test"):
        for rows_read in (600, 650, 720, 850, 900, 1000):  # of 1000, at 0.0, 0.3, ..., 1.7
            shown.report(rows_read, 1000)

    # created at 60% (an earlier run copied that much), 65% and 72% within its first second left out, the end once
    assert server == [("create", 60.0), ("update", 85.0), ("update", 100.0)]
    assert [record.getMessage() for record in caplog.records] == [
        "orders: 70% copied (720 rows)",
        "orders: 80% copied (850 rows)",
        "orders: 90% copied (900 rows)",
    ]
