import logging
from pathlib import Path

from tasks.core.batches import Batch
from tasks.observability import progress


def test_a_batchs_progress_reaches_the_server_at_most_once_a_second_and_once_at_the_end(monkeypatch):
    sent: list[float] = []
    clock = iter([0.0, 0.2, 0.5, 1.1, 1.3, 1.4, 1.5, 1.6])
    monkeypatch.setattr(progress, "create_progress_artifact", lambda *args, **kwargs: "artifact")
    monkeypatch.setattr(progress, "update_progress_artifact", lambda artifact, value: sent.append(value))
    monkeypatch.setattr(progress, "get_run_logger", lambda: logging.getLogger("test"))
    monkeypatch.setattr(progress.time, "monotonic", lambda: next(clock))
    batch = Batch(
        pipeline="access_logs", source="/logs/a.log", path=Path("/logs/a.log"), fingerprint="f", size_bytes=1000
    )

    shown = progress.BatchProgress(batch)  # at 0.0
    for fraction in (0.25, 0.5, 0.75, 0.8, 1.0, 1.0, 1.0):  # at 0.2, 0.5, 1.1, 1.3, 1.4, 1.5, 1.6
        shown.report(fraction)

    assert sent == [75.0, 100.0]  # 0.25 and 0.5 within the first second, 0.8 within a second of 0.75, 1.0 once
