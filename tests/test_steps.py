"""The Prefect task wrappers: which failures are retried, and what the staging cache key depends on."""

import dataclasses
import os
import time
from pathlib import Path

import pytest
from log_files import log_line, write_log
from prefect import flow, task

from tasks.access_logs import ACCESS_LOG_FORMAT
from tasks.batches import make_batch
from tasks.reading import BatchDataError
from tasks.staging import staging_epoch
from tasks.steps import RETRIES, staged_batch_cache_key
from tasks.warehouse import AccountingError


def attempts_until_done(error: Exception) -> int:
    """How many times a task with the project's retry settings runs when it fails once with `error`."""
    calls = []

    @task(**{**RETRIES, "retry_delay_seconds": 0, "retry_jitter_factor": None})
    def fails_once() -> None:
        calls.append(1)
        if len(calls) == 1:
            raise error

    @flow
    def run_it() -> None:
        fails_once(return_state=True)

    run_it()
    return len(calls)


@pytest.mark.usefixtures("prefect_server")
@pytest.mark.parametrize(
    ("error", "attempts"),
    [
        (OSError("disk busy"), 2),
        (TimeoutError("lock wait"), 2),
        (BatchDataError("line 3 is not UTF-8"), 1),
        (AccountingError("rows do not add up"), 1),
        (ValueError("a bug"), 1),
    ],
    ids=["io-error-retried", "timeout-retried", "bad-data-not-retried", "accounting-not-retried", "bug-not-retried"],
)
def test_transient_failures_are_retried_and_deterministic_ones_are_not(error, attempts):
    assert attempts_until_done(error) == attempts


def test_the_staging_cache_key_follows_content_parser_version_and_staging_area(tmp_path):
    batch = make_batch("access_logs", write_log(tmp_path / "in" / "a.log", [log_line()]))
    parameters = {"batch": batch, "source_format": ACCESS_LOG_FORMAT, "warehouse": tmp_path / "w" / "warehouse.duckdb"}
    key = staged_batch_cache_key(None, parameters)

    assert staged_batch_cache_key(None, parameters) == key
    changed_content = make_batch("access_logs", write_log(tmp_path / "in" / "a.log", [log_line(status="404")]))
    assert staged_batch_cache_key(None, {**parameters, "batch": changed_content}) != key
    new_parser = dataclasses.replace(ACCESS_LOG_FORMAT, version="another-version")
    assert staged_batch_cache_key(None, {**parameters, "source_format": new_parser}) != key
    other_warehouse = tmp_path / "other" / "warehouse.duckdb"
    assert staged_batch_cache_key(None, {**parameters, "warehouse": other_warehouse}) != key
    (tmp_path / "w" / "staging" / "access_logs" / ".epoch").unlink()
    assert staged_batch_cache_key(None, parameters) != key, "a deleted staging area must not be trusted"
    assert "/" not in key


def test_a_task_that_loses_the_race_to_create_the_staging_epoch_uses_the_winners(tmp_path, monkeypatch):
    link = os.link

    def another_task_creates_it_first(source, target):
        Path(target).write_text("the winner's epoch")
        return link(source, target)

    monkeypatch.setattr("tasks.staging.os.link", another_task_creates_it_first)

    assert staging_epoch(tmp_path, "access_logs") == "the winner's epoch"
    assert [path.name for path in (tmp_path / "access_logs").iterdir()] == [".epoch"]


def test_only_scratch_left_long_ago_by_a_killed_run_is_removed(tmp_path):
    from tasks.staging import ABANDONED_AFTER_SECONDS, remove_abandoned_scratch

    abandoned = tmp_path / "access_logs" / "batch-a.partial-1234abcd"
    in_progress = tmp_path / "access_logs" / "batch-b.partial-5678ef01"
    staged = tmp_path / "access_logs" / "batch-c"
    for folder in (abandoned, in_progress, staged):
        folder.mkdir(parents=True)
    long_ago = time.time() - ABANDONED_AFTER_SECONDS - 60
    os.utime(abandoned, (long_ago, long_ago))
    os.utime(staged, (long_ago, long_ago))

    remove_abandoned_scratch(tmp_path, "access_logs")

    assert sorted(path.name for path in (tmp_path / "access_logs").iterdir()) == ["batch-b.partial-5678ef01", "batch-c"]
