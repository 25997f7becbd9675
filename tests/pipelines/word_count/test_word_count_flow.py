"""The word-count flow end to end under the session's Prefect test server: results against the independent
computation, re-runs, changed and unreadable files, a file cut into many splits, crashes, a Dask cluster, and the
command line."""

import gzip
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import disk_full as disk_full_module
import polars as pl
import pytest
from disk_full import disk_full
from flow_process import generate_corpus, run_flow_process, start_flow
from independent_word_count import (
    assert_matches_independent_computation,
    corpus_files,
    count_words,
    lines_of,
    words_of_line,
)
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId, TaskRunFilter, TaskRunFilterName
from run_records import assert_run_matches_ledger
from warehouse_snapshot import query, snapshot

from flows.word_count import parse_arguments, word_count
from tasks.core.batches import make_batch
from tasks.core.mapreduce import counters_of_run, job_directory, plan_splits, run_map, run_reducers, shuffle
from tasks.kit.mapreduce_steps import map_split, reduce_partition
from tasks.observability.audit import run_checks, warehouse_checks
from tasks.pipelines.word_count.source import PIPELINE, WORD_COUNT_JOB
from tasks.warehouse.connection import open_warehouse
from tasks.warehouse.loads import merge_mapreduce_run

PROJECT_ROOT = Path(__file__).resolve().parents[3]
SAMPLE_CORPUS = PROJECT_ROOT / "data" / "sample_corpus"
SCHEMAS = ("wordcount", "meta")

pytestmark = pytest.mark.usefixtures("prefect_server")


def run_flow(source: Path, warehouse: Path, **parameters):
    state = word_count(source=source, warehouse=warehouse, return_state=True, **parameters)
    return state, state.result(raise_on_failure=False)


def copy_corpus(target: Path) -> Path:
    shutil.copytree(SAMPLE_CORPUS, target)
    return target


def test_the_sample_corpus_counts_agree_with_the_independent_computation(tmp_path):
    warehouse = tmp_path / "warehouse.duckdb"

    state, summary = run_flow(SAMPLE_CORPUS, warehouse, reducers=3, split_mb=1 / 8)

    assert state.is_completed(), state.message
    assert len(summary.batches) == len(corpus_files(SAMPLE_CORPUS))
    assert_matches_independent_computation(corpus_files(SAMPLE_CORPUS), warehouse)
    [run] = query(
        warehouse,
        "select documents, splits, partitions, combiner, records_read, map_output_records, reduce_input_groups, "
        "word_counts_output_records from wordcount.runs",
    )
    total_lines = sum(len(lines_of(path)) for path in corpus_files(SAMPLE_CORPUS))
    distinct_words = len(count_words(corpus_files(SAMPLE_CORPUS)))
    total_words = sum(count_words(corpus_files(SAMPLE_CORPUS)).values())
    assert run[:3] == (5, run[1], 3) and run[1] > 5  # the plain files are cut into 128 KiB splits
    assert run[3:] == (True, total_lines, total_words, distinct_words, distinct_words)
    assert not list((tmp_path / "staging" / "word_count").rglob("*.parquet"))  # spills are removed once merged


def test_a_second_run_changes_nothing_and_a_reload_gives_the_same_warehouse(tmp_path):
    warehouse = tmp_path / "warehouse.duckdb"
    run_flow(SAMPLE_CORPUS, warehouse)
    first = snapshot(warehouse, SCHEMAS)

    state, summary = run_flow(SAMPLE_CORPUS, warehouse)

    assert state.is_completed()
    assert summary.batches == [] and summary.already_loaded == 5
    assert snapshot(warehouse, SCHEMAS) == first

    state, summary = run_flow(SAMPLE_CORPUS, warehouse, reload=True, reducers=2)

    assert state.is_completed() and len(summary.batches) == 5
    reloaded = snapshot(warehouse, SCHEMAS)
    assert {table: reloaded[table] for table in reloaded if table != "wordcount.runs"} == {
        table: first[table] for table in first if table != "wordcount.runs"
    }


def test_a_changed_file_replaces_its_counts_and_a_new_file_adds_its_own(tmp_path):
    source = copy_corpus(tmp_path / "corpus")
    warehouse = tmp_path / "warehouse.duckdb"
    run_flow(source, warehouse)
    changed = source / "doc-0002.txt"
    changed.write_text("Entirely new words: zyzzyva zyzzyva quokka.\nThe end\n")
    (source / "extra.txt.gz").write_bytes(gzip.compress(b"quokka again\n", mtime=0))

    state, summary = run_flow(source, warehouse)

    assert state.is_completed(), state.message
    assert sorted(Path(batch.source).name for batch in summary.batches) == ["doc-0002.txt", "extra.txt.gz"]
    assert_matches_independent_computation(corpus_files(source), warehouse)
    assert query(warehouse, "select count from wordcount.word_counts where word = 'zyzzyva'") == [(2,)]
    assert query(warehouse, "select documents from wordcount.doc_freq where word = 'quokka'") == [(2,)]
    assert query(
        warehouse,
        "select status, count(*) from meta.batches where source like '%doc-0002.txt' group by status order by status",
    ) == [("loaded", 1), ("replaced", 1)]


def test_a_file_that_is_not_utf8_fails_alone_and_the_rest_are_counted(tmp_path):
    source = copy_corpus(tmp_path / "corpus")
    (source / "latin1.txt").write_bytes("première ligne\n".encode() + "deuxième\n".encode("latin-1"))
    warehouse = tmp_path / "warehouse.duckdb"

    state, summary = run_flow(source, warehouse)

    assert state.is_failed()
    assert "latin1.txt" in state.message and "line 2 is not UTF-8" in state.message
    assert_matches_independent_computation(
        [path for path in corpus_files(source) if path.name != "latin1.txt"], warehouse
    )
    assert query(warehouse, "select status, rows_in from meta.batches where source like '%latin1.txt'") == [
        ("failed", 0)
    ]
    assert summary.rows_in == sum(len(lines_of(path)) for path in corpus_files(SAMPLE_CORPUS))


def test_a_text_file_holding_a_nul_byte_fails_alone_as_binary(tmp_path):
    source = copy_corpus(tmp_path / "corpus")
    (source / "nul.txt").write_bytes(b"valid UTF-8\nwith a NUL \x00 here\n")
    warehouse = tmp_path / "warehouse.duckdb"

    state, _ = run_flow(source, warehouse)

    assert state.is_failed()
    assert "nul.txt: line 2 holds a NUL byte: this is a binary file, not text" in state.message
    assert query(warehouse, "select status from meta.batches where source like '%nul.txt'") == [("failed",)]
    assert_matches_independent_computation([path for path in corpus_files(source) if path.name != "nul.txt"], warehouse)


def test_text_without_newlines_is_cut_between_words_and_only_a_word_longer_than_the_limit_is_rejected(
    tmp_path, monkeypatch
):
    monkeypatch.setattr("tasks.core.mapreduce.MAX_LINE_BYTES", 1000)
    source = tmp_path / "corpus"
    source.mkdir()
    (source / "long.txt").write_bytes(b"Hello world\n" + b"lorem ipsum " * 1000 + b"z" * 5000 + b" the end\nlast")
    (source / "bomb.txt.gz").write_bytes(gzip.compress(b"x" * 20_000, mtime=0))
    warehouse = tmp_path / "warehouse.duckdb"

    state, _ = run_flow(source, warehouse, split_mb=4 / 1024, chunk_mb=1 / 1024, max_reject_rate=1)

    assert state.is_completed(), state.message
    # The independent count, with the runs of more than 1000 bytes without a separator taken out.
    without_long_runs = [
        line.replace("z" * 5000, "").replace("x" * 20_000, "") for line in lines_of(source / "long.txt")
    ]
    assert Counter(dict(query(warehouse, "select word, count from wordcount.word_counts"))) == Counter(
        word for line in without_long_runs for word in words_of_line(line)
    )
    assert query(
        warehouse,
        "select regexp_extract(source, '[^/]+$'), rows_in, rows_loaded, rows_rejected from meta.batches order by 1",
    ) == [("bomb.txt.gz", 2, 1, 1), ("long.txt", 4, 3, 1)]
    rejects = query(
        warehouse, "select regexp_extract(source, '[^/]+$'), line_number, raw, reason from meta.rejects order by 1"
    )
    assert rejects == [
        (
            "bomb.txt.gz",
            1,
            "x" * 200,
            "a run of 20,000 bytes without a separator, from byte 0 of the line, is "
            "longer than 1,000 bytes: only its start is kept",
        ),
        (
            "long.txt",
            2,
            "z" * 200,
            "a run of 5,000 bytes without a separator, from byte 12,000 of the line, is "
            "longer than 1,000 bytes: only its start is kept",
        ),
    ]
    with open_warehouse(warehouse) as connection:
        assert [result for result in run_checks(connection, warehouse_checks()) if not result.passed] == []


def test_one_large_file_cut_into_many_splits_with_seven_reducers_and_no_combiner(tmp_path):
    source = tmp_path / "corpus"
    generate_corpus(source, 3, 5, 1)
    warehouse = tmp_path / "warehouse.duckdb"

    state, _ = run_flow(
        source, warehouse, reducers=7, split_mb=100_000 / 2**20, chunk_mb=30_000 / 2**20, combiner=False
    )

    assert state.is_completed(), state.message
    assert query(warehouse, "select splits, partitions, combiner from wordcount.runs") == [(32, 7, False)]
    assert_matches_independent_computation(corpus_files(source), warehouse)


def test_the_command_line_explains_a_missing_folder_and_a_remote_cluster_without_a_server(tmp_path):
    environment = {key: value for key, value in os.environ.items() if key != "PREFECT_API_URL"}
    command = [sys.executable, "flows/word_count.py", "--warehouse", str(tmp_path / "w.duckdb")]

    missing = subprocess.run(
        [*command, "--source", str(tmp_path / "nowhere")],
        cwd=PROJECT_ROOT,
        env=environment,
        capture_output=True,
        text=True,
    )
    remote = subprocess.run(
        [*command, "--dask-address", "tcp://127.0.0.1:1"],
        cwd=PROJECT_ROOT,
        env=environment,
        capture_output=True,
        text=True,
    )

    assert missing.returncode == 2 and "does not exist" in missing.stderr
    assert remote.returncode == 2 and "need a Prefect server" in remote.stderr and "PREFECT_API_URL" in remote.stderr


@pytest.mark.slow
def test_a_run_killed_at_any_moment_then_rerun_equals_one_clean_run(tmp_path):
    source = tmp_path / "corpus"
    generate_corpus(source, 6, 9, 4)
    small = ("--split-mb", "1", "--chunk-mb", "1", "--no-combiner")  # many maps and spills, so a kill lands mid-way
    started = time.monotonic()
    clean = run_flow_process(source, tmp_path / "clean" / "warehouse.duckdb", *small, flow="word_count")
    clean_seconds = time.monotonic() - started
    assert clean.returncode == 0, clean.stderr
    expected = snapshot(tmp_path / "clean" / "warehouse.duckdb", SCHEMAS)

    for point in (0.55, 0.9):
        warehouse = tmp_path / f"killed-at-{point}" / "warehouse.duckdb"
        running = start_flow(source, warehouse, *small, flow="word_count")
        time.sleep(clean_seconds * point)
        running.send_signal(signal.SIGKILL)
        running.wait()

        rerun = run_flow_process(source, warehouse, *small, flow="word_count")

        assert rerun.returncode == 0, f"killed at {point:.0%} of a run: {rerun.stderr}"
        assert snapshot(warehouse, SCHEMAS) == expected, f"killed at {point:.0%} of a run"


def test_a_run_publishes_hadoop_s_counters_its_summary_and_progress_as_artifacts(tmp_path):
    state, summary = run_flow(SAMPLE_CORPUS, tmp_path / "warehouse.duckdb", reducers=2)

    assert_run_matches_ledger(tmp_path / "warehouse.duckdb", state, "completed")
    with get_client(sync_client=True) as client:
        artifacts = client.read_artifacts(
            flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[state.state_details.flow_run_id]))
        )
    by_key = {artifact.key: artifact for artifact in artifacts if artifact.key}
    assert set(by_key) == {"word-count-counters", "word-count-batches", "word-count-summary"}
    counters = by_key["word-count-counters"].data
    shown = {row["counter"]: row["value"] for row in (json.loads(counters) if isinstance(counters, str) else counters)}
    assert shown["Map output records"].count(",") >= 1  # as the summary writes numbers: 25,208
    counters = {counter: int(value.replace(",", "")) for counter, value in shown.items()}
    expected = count_words(corpus_files(SAMPLE_CORPUS))
    assert counters["Map input records"] == summary.rows_in
    assert counters["Map output records"] == counters["Combine input records"] == sum(expected.values())
    assert counters["Reduce input groups"] == counters["Reduce output records (word_counts)"] == len(expected)
    assert counters["Reduce input records"] == counters["Spilled records"] == counters["Combine output records"]
    assert (
        counters["Reduce output records (postings)"]
        == query(tmp_path / "warehouse.duckdb", "select count(*) from wordcount.postings")[0][0]
    )
    progress = [artifact for artifact in artifacts if artifact.type == "progress"]
    assert progress and all(artifact.data == 100.0 for artifact in progress)


def test_a_merge_retried_after_it_committed_leaves_the_warehouse_as_one_merge(tmp_path):
    files = corpus_files(SAMPLE_CORPUS)
    warehouse = tmp_path / "warehouse.duckdb"
    batches = [make_batch(PIPELINE, path) for path in files]
    outputs = [run_map(split, WORD_COUNT_JOB, tmp_path, 2, True, 1 << 20) for split in plan_splits(batches, 1 << 20)]
    shuffled = shuffle(outputs, job_directory(tmp_path, WORD_COUNT_JOB, 2, True), 2)
    reduced = [output for partition in (0, 1) for output in run_reducers(WORD_COUNT_JOB, partition, shuffled)]
    counters = {"flow_run_id": "run-1", "loaded_at": datetime.now(UTC), "combiner": True}
    counters |= counters_of_run(shuffled, reduced)

    for _attempt in range(2):
        with open_warehouse(warehouse) as connection:
            merge_mapreduce_run(connection, PIPELINE, "v1", shuffled, reduced, counters, time.time(), "run-1")

    assert_matches_independent_computation(files, warehouse)
    assert query(warehouse, "select count(*) from wordcount.runs") == [(1,)]


@pytest.mark.parametrize("mount", [True, False], ids=["tmpfs when it may mount", "simulated ENOSPC"])
def test_a_full_disk_during_spills_fails_every_batch_with_its_reason_and_a_run_after_freeing_space_is_clean(
    tmp_path, monkeypatch, mount
):
    if not mount:
        monkeypatch.setattr(disk_full_module, "_mount", lambda folder, size: False)
    warehouse = tmp_path / "warehouse.duckdb"
    for step in (map_split, reduce_partition):  # a full disk is retried, as any I/O error is: without the waits here
        monkeypatch.setattr(step, "retry_delay_seconds", 0)
    # Staging beside the warehouse on a 256 KiB disk: the sample corpus's spills need about 2 MiB.
    parquet_writers = [(pl.DataFrame, "write_parquet"), (pl.LazyFrame, "sink_parquet")]
    with disk_full(tmp_path / "staging", size=256 * 1024, simulate=parquet_writers) as full:
        state, summary = run_flow(SAMPLE_CORPUS, warehouse)

        assert state.is_failed()
        assert "\n" not in state.message and "no space left on device while writing" in state.message
        ledger = query(warehouse, "select source, status, rows_in, rows_loaded, error from meta.batches order by 1")
        assert [(Path(source).name, status, rows_in, loaded) for source, status, rows_in, loaded, _ in ledger] == [
            (path.name, "failed", 0, 0) for path in corpus_files(SAMPLE_CORPUS)
        ]
        assert all("no space left on device while writing" in error for *_, error in ledger), ledger
        assert query(warehouse, "select count(*) from wordcount.word_counts") == [(0,)]
        assert query(warehouse, "select count(*) from wordcount.documents") == [(0,)]
        full.free()

    state, summary = run_flow(SAMPLE_CORPUS, warehouse)

    assert state.is_completed(), state.message
    assert len(summary.batches) == 5
    assert_matches_independent_computation(corpus_files(SAMPLE_CORPUS), warehouse)


@pytest.mark.parametrize("reducers", ["0", "4097", "100000"])
def test_a_reducer_count_out_of_range_is_refused_on_the_command_line_in_one_line(reducers, tmp_path, capsys):
    with pytest.raises(SystemExit) as stopped:
        parse_arguments(
            ["--source", str(SAMPLE_CORPUS), "--warehouse", str(tmp_path / "w.duckdb"), "--reducers", reducers]
        )

    assert stopped.value.code == 2
    assert (
        capsys.readouterr()
        .err.splitlines()[-1]
        .endswith(f"argument --reducers: must be from 1 to 4,096, not {reducers}")
    )
    assert not (tmp_path / "w.duckdb").exists()


def test_a_reducer_count_out_of_range_fails_the_flow_run_in_one_line_before_anything_is_written(tmp_path):
    state, _ = run_flow(SAMPLE_CORPUS, tmp_path / "warehouse.duckdb", reducers=100_000)

    assert state.is_failed()
    assert state.message == "reducers=100000 is not allowed: it must be a whole number from 1 to 4,096"
    assert not (tmp_path / "warehouse.duckdb").exists()


def test_the_merge_is_not_tied_to_every_reduce_task_so_its_events_do_not_grow_with_the_reducers(tmp_path):
    """EventTooLarge with --reducers 100000: each task-run event carries the task's inputs, and the merge took one
    reference per reduce task (about 65 bytes each, against the 1.5 MB limit of an event)."""
    state, _ = run_flow(SAMPLE_CORPUS, tmp_path / "warehouse.duckdb", reducers=16)

    assert state.is_completed(), state.message
    with get_client(sync_client=True) as client:
        [merge] = client.read_task_runs(
            flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[state.state_details.flow_run_id])),
            task_run_filter=TaskRunFilter(name=TaskRunFilterName(like_="merge-reduced-run")),
        )
    assert merge.task_inputs["reduced"] == []
