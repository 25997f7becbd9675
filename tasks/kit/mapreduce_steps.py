"""The Prefect tasks of a MapReduce job (tasks/core/mapreduce.py): plan the splits, map each, shuffle, reduce each
partition, and merge the run into the warehouse with its ledger rows."""

from datetime import UTC, datetime
from pathlib import Path

from prefect import task
from prefect.runtime import flow_run

from tasks.core.mapreduce import (
    MapOutput,
    MapReduceJob,
    ReduceOutput,
    Shuffle,
    Split,
    counters_of_run,
    job_directory,
    plan_splits,
    remove_run_files,
    run_map,
    run_reducers,
    shuffle,
)
from tasks.kit.discovery import Discovery
from tasks.kit.steps import RETRIES
from tasks.observability.progress import FollowedBatches
from tasks.observability.summaries import publish_counters
from tasks.warehouse.connection import open_warehouse
from tasks.warehouse.loads import (
    merge_mapreduce_run,
)


@task(name="plan-splits")
def plan_input_splits(discovery: Discovery, split_bytes: int) -> list[Split]:
    """The input splits of the files to load: each file, or byte ranges of a large one."""
    return plan_splits(discovery.to_load, split_bytes)


@task(name="map-split", task_run_name="map {split.description}", **RETRIES)
def map_split(
    split: Split, job: MapReduceJob, staging_root: Path, partitions: int, combine: bool, chunk_bytes: int
) -> MapOutput:
    """Map one split into partitioned spill files under `staging_root` (the run's, Discovery.staging_root); returns
    where, and its counters."""
    return run_map(split, job, staging_root, partitions, combine, chunk_bytes)


@task(name="shuffle")
def shuffle_map_output(
    outputs: list[MapOutput], job: MapReduceJob, staging_root: Path, partitions: int, combine: bool
) -> Shuffle:
    """Which spill folders the reducers read: those of the batches whose every split was mapped."""
    return shuffle(outputs, job_directory(staging_root, job, partitions, combine), partitions)


@task(name="reduce-partition", task_run_name="reduce partition {partition}", **RETRIES)
def reduce_partition(job: MapReduceJob, partition: int, shuffled: Shuffle) -> list[ReduceOutput]:
    """Run every reducer of the job on one partition's spills; returns where their output is."""
    return run_reducers(job, partition, shuffled)


@task(name="merge-reduced-run", **RETRIES)
def merge_reduced_run(
    job: MapReduceJob,
    discovery: Discovery,
    shuffled: Shuffle,
    reduced: list[list[ReduceOutput]],
    combine: bool,
    warehouse: Path,
) -> FollowedBatches:
    """Merge the reducers' output into the warehouse in one transaction, record each batch in the ledger, publish
    the run's counters, and delete its spills; returns the batches' ledger outcomes."""
    if not shuffled.complete and not shuffled.failed:
        return FollowedBatches(outcomes=[], errors=[])
    outputs = [output for partition in reduced for output in partition]
    counters = {"flow_run_id": flow_run.get_id(), "loaded_at": datetime.now(UTC), "combiner": combine}
    counters |= counters_of_run(shuffled, outputs)
    with open_warehouse(warehouse) as connection:
        outcomes = merge_mapreduce_run(
            connection, job.name, job.version, shuffled, outputs, counters, discovery.started_at, flow_run.get_id()
        )
    publish_counters(job.name, counters)
    remove_run_files(shuffled)
    return FollowedBatches(outcomes=outcomes, errors=[])
