"""The Prefect task wrappers: which failures are retried, and what the staging cache key depends on."""

import dataclasses
import importlib
import os
import shutil
import time
from pathlib import Path

import pytest
from log_files import log_line, write_log
from prefect import flow, task
from prefect.states import Failed
from project_code import project_modules

from tasks.core.batches import make_batch
from tasks.core.disk_space import DiskFull
from tasks.core.errors import PermanentError
from tasks.core.reading import BatchDataError
from tasks.core.settings import SettingError
from tasks.core.staging import stage_batch, staging_directory, staging_epoch
from tasks.core.validation import SchemaMismatch
from tasks.kit.discovery import SourceUnavailable
from tasks.kit.steps import RETRIES, retry_if_transient, staged_batch_cache_key, with_retries
from tasks.pipelines.access_logs.source import ACCESS_LOG_FORMAT
from tasks.pipelines.migrate.checkpoints import MigrationConflict
from tasks.pipelines.migrate.migration import MigrationRefused, VerificationFailed
from tasks.warehouse.connection import CommitFailed, WarehouseUnavailable
from tasks.warehouse.loads import AccountingError


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


@pytest.mark.parametrize(
    ("failures", "attempts", "outcome"),
    [
        ([OSError("disk busy")], 2, "done"),
        ([TimeoutError("lock wait"), DiskFull("no space left")], 3, "done"),
        ([OSError("1"), OSError("2"), OSError("3")], 3, "OSError: 3"),
        ([AccountingError("rows do not add up")], 1, "AccountingError: rows do not add up"),
        ([ValueError("a bug")], 1, "ValueError: a bug"),
    ],
    ids=["io-error-retried", "two-transient-retried", "gives-up-after-its-delays", "accounting-not-retried", "bug"],
)
def test_a_step_within_a_task_is_retried_as_a_task_would_be(failures, attempts, outcome):
    """The loads of a run are one task: each batch's load gets the tasks' retry policy of its own."""
    calls = []

    def step() -> str:
        calls.append(1)
        if len(calls) <= len(failures):
            raise failures[len(calls) - 1]
        return "done"

    try:
        result = with_retries(step, "the step", delays=(0, 0))
    except Exception as error:  # noqa: BLE001 - what it raised is the outcome compared
        result = f"{type(error).__name__}: {error}"

    assert (len(calls), result) == (attempts, outcome)


def staged(batch, staging_root: Path) -> None:
    stage_batch(batch, ACCESS_LOG_FORMAT, staging_root, chunk_bytes=1 << 20)


def test_the_staging_cache_key_follows_content_parser_version_and_staging_area(tmp_path):
    batch = make_batch("access_logs", write_log(tmp_path / "in" / "a.log", [log_line()]))
    staging_root = tmp_path / "w" / "staging"
    parameters = {"batch": batch, "source_format": ACCESS_LOG_FORMAT, "staging_root": staging_root}
    staged(batch, staging_root)
    key = staged_batch_cache_key(None, parameters)

    assert key is not None and "/" not in key
    assert staged_batch_cache_key(None, parameters) == key
    changed_content = make_batch("access_logs", write_log(tmp_path / "in" / "a.log", [log_line(status="404")]))
    staged(changed_content, staging_root)
    assert staged_batch_cache_key(None, {**parameters, "batch": changed_content}) not in (key, None)
    new_parser = dataclasses.replace(ACCESS_LOG_FORMAT, version="another-version")
    assert staged_batch_cache_key(None, {**parameters, "source_format": new_parser}) != key
    other_staging_root = tmp_path / "other" / "staging"
    staged(batch, other_staging_root)
    assert staged_batch_cache_key(None, {**parameters, "staging_root": other_staging_root}) not in (key, None)
    (tmp_path / "w" / "staging" / "access_logs" / ".epoch").unlink()
    assert staged_batch_cache_key(None, parameters) != key, "a deleted staging area must not be trusted"


def test_a_batch_whose_staged_folder_was_removed_is_not_taken_from_the_cache(tmp_path):
    batch = make_batch("access_logs", write_log(tmp_path / "in" / "a.log", [log_line()]))
    staging_root = tmp_path / "w" / "staging"
    parameters = {"batch": batch, "source_format": ACCESS_LOG_FORMAT, "staging_root": staging_root}
    assert staged_batch_cache_key(None, parameters) is None, "nothing staged yet: the task runs"
    staged(batch, staging_root)
    assert staged_batch_cache_key(None, parameters) is not None

    shutil.rmtree(staging_directory(staging_root, batch))  # an operator frees the space after a load

    assert staged_batch_cache_key(None, parameters) is None


def test_a_task_that_loses_the_race_to_create_the_staging_epoch_uses_the_winners(tmp_path, monkeypatch):
    link = os.link

    def another_task_creates_it_first(source, target):
        Path(target).write_text("the winner's epoch")
        return link(source, target)

    monkeypatch.setattr("tasks.core.staging.os.link", another_task_creates_it_first)

    assert staging_epoch(tmp_path, "access_logs") == "the winner's epoch"
    assert [path.name for path in (tmp_path / "access_logs").iterdir()] == [".epoch"]


def test_only_scratch_left_long_ago_by_a_killed_run_is_removed(tmp_path):
    from tasks.core.staging import ABANDONED_AFTER_SECONDS, remove_abandoned_scratch

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


@pytest.mark.parametrize(
    "error, retried",
    [
        (BatchDataError("line 3 holds a NUL byte"), False),
        (SourceUnavailable("no folder /in"), False),
        (WarehouseUnavailable("the warehouse cannot be called sales.duckdb"), False),
        (AccountingError("3 rows in, 2 loaded + 0 rejected"), False),
        (SchemaMismatch("missing column"), False),
        (SettingError("BATCHYARD_CHUNK_BYTES='abc'"), False),
        (MigrationRefused("no table x"), False),
        (VerificationFailed("checksums differ"), False),
        (MigrationConflict("another run copies t"), False),
        (TypeError("a bug"), False),
        (OSError(5, "Input/output error"), True),
        (DiskFull("no space left on device while writing spill"), True),
        (CommitFailed("the warehouse could not commit"), True),
        (TimeoutError("the lock"), True),
        (ConnectionError("server closed the connection"), True),
    ],
    ids=lambda value: type(value).__name__ if isinstance(value, Exception) else str(value),
)
def test_the_retry_policy_follows_the_error_type(error, retried):
    assert retry_if_transient(None, None, Failed(data=error)) is retried


def test_every_error_the_project_defines_says_whether_a_retry_can_fix_it():
    """A new error class must choose: PermanentError (never retried) or transient (retried with backoff), named here."""
    import tasks

    # transient: a retry may find room, the database back, or the value is turned into a reject before any task sees it
    transient = {"CommitFailed", "DiskFull", "SourceError", "Unrepresentable", "CommandRefused"}
    defined = {
        name: value
        for module in map(importlib.import_module, project_modules(Path(tasks.__file__).parent))
        for name, value in vars(module).items()
        if isinstance(value, type) and issubclass(value, Exception) and value.__module__ == module.__name__
    }
    undecided = [
        name for name, value in defined.items() if not issubclass(value, PermanentError) and name not in transient
    ]
    assert undecided == []
