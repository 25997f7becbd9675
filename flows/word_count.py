"""Word count: text files in, `wordcount.word_counts`, `wordcount.doc_freq` and the inverted index out, by MapReduce.

python flows/word_count.py --source DIR --warehouse PATH --reducers R [--dask-workers N | --dask-address tcp://...]
"""

import argparse

from tasks.core.settings import REDUCERS, REDUCERS_ALLOWED, SPLIT_MB, SPLIT_MB_ALLOWED
from tasks.kit.arguments import add_file_source_arguments, allowed_number, allowed_size, answer_early, description
from tasks.pipelines.word_count import SAMPLE


def command_line() -> argparse.ArgumentParser:
    """The command's arguments, built before the imports below: --help and a mistyped argument answer at once."""
    parser = argparse.ArgumentParser(description=description(__doc__))
    add_file_source_arguments(parser, SAMPLE, "*.txt / *.txt.gz files", day_filter=False)
    parser.add_argument(
        "--reducers",
        type=allowed_number(REDUCERS_ALLOWED),
        default=REDUCERS,
        help=f"reduce partitions (and tasks), {REDUCERS_ALLOWED.lowest:.0f} to {REDUCERS_ALLOWED.highest:,.0f}",
    )
    parser.add_argument(
        "--split-mb",
        type=allowed_size(SPLIT_MB_ALLOWED),
        default=SPLIT_MB,
        metavar="MIB",
        help=f"MiB of a file per map task, larger files are cut (default: BATCHYARD_SPLIT_BYTES, now {SPLIT_MB:g})",
    )
    parser.add_argument(
        "--no-combiner",
        dest="combiner",
        action="store_false",
        help="spill every (word, 1) pair as Hadoop does without one",
    )
    return parser


answer_early(__name__, command_line)

from pathlib import Path

from prefect import flow, unmapped

from tasks.core.mapreduce import collect_reduce_outputs
from tasks.core.runners import task_runner
from tasks.core.settings import (
    CHUNK_MB,
    DEFAULT_WAREHOUSE,
    MAX_REJECT_RATE,
    REJECT_RATE_MIN_ROWS,
    bytes_in,
)
from tasks.kit.cli import (
    ChunkMiB,
    CommandRefused,
    Reducers,
    RejectRate,
    RejectRateMinRows,
    SplitMiB,
    check_file_flow_arguments,
    exit_process,
    parse_command_line,
    refuse_bad_settings,
    run_file_flow,
)
from tasks.kit.mapreduce_steps import (
    map_split,
    merge_reduced_run,
    plan_input_splits,
    reduce_partition,
    shuffle_map_output,
)
from tasks.kit.steps import announce_completion, discover_batches, report_run
from tasks.observability.progress import follow_maps
from tasks.observability.summaries import RunSummary, final_state
from tasks.pipelines.word_count.source import CORPUS_FILES, PIPELINE, WORD_COUNT_JOB
from tasks.warehouse.connection import server_write_turn


@refuse_bad_settings
@flow(name="word-count", task_runner=task_runner())
def word_count(
    source: Path = SAMPLE,
    warehouse: Path = DEFAULT_WAREHOUSE,
    reducers: Reducers = REDUCERS,
    split_mb: SplitMiB = SPLIT_MB,
    chunk_mb: ChunkMiB = CHUNK_MB,
    combiner: bool = True,
    files: list[str] | None = None,
    reload: bool = False,
    max_reject_rate: RejectRate = MAX_REJECT_RATE,
    reject_rate_min_rows: RejectRateMinRows = REJECT_RATE_MIN_ROWS,
) -> RunSummary:
    """Count the words of the *.txt and *.txt.gz files in `source` (or the named `files`) by MapReduce with
    `reducers` partitions, and merge them into the warehouse's wordcount schema. Files whose content is loaded
    already are skipped unless `reload` is set; a changed file replaces its earlier counts.

    Args:
        source: The folder of *.txt and *.txt.gz files to count (a relative path is in the project folder).
        reducers: Reduce partitions, and so reduce tasks.
        split_mb: MiB of a file per map task (0.5 is 512 KiB): larger files are cut.
        combiner: Combine each map's counts before the shuffle, as Hadoop's combiner does.
    """
    discovery = discover_batches(source, CORPUS_FILES, PIPELINE, warehouse, files, reload)
    splits = plan_input_splits(discovery, bytes_in(split_mb))
    mapped = map_split.map(
        splits,
        unmapped(WORD_COUNT_JOB),
        unmapped(discovery.staging_root),
        unmapped(reducers),
        unmapped(combiner),
        unmapped(bytes_in(chunk_mb)),
    )
    shuffled = shuffle_map_output(
        follow_maps(mapped, splits, "word count: map"), WORD_COUNT_JOB, discovery.staging_root, reducers, combiner
    )
    reductions = reduce_partition.map(unmapped(WORD_COUNT_JOB), shuffled.partitions_to_reduce, unmapped(shuffled))
    shuffled, reduced = collect_reduce_outputs(reductions, shuffled)
    with server_write_turn():
        # called, not submitted: the one write runs in the flow's own process, wherever the other tasks ran
        followed = merge_reduced_run(WORD_COUNT_JOB, discovery, shuffled, [reduced], combiner, warehouse)
    summary = report_run(
        PIPELINE,
        discovery,
        warehouse,
        followed,
        max_reject_rate=max_reject_rate,
        reject_rate_min_rows=reject_rate_min_rows,
    )
    announce_completion(summary)
    return final_state(summary)


def parse_arguments(argv: list[str] | None = None) -> argparse.Namespace:
    """The command line, checked with the settings: anything bad stops it with one line and exit code 2, before
    anything is written."""
    parser = command_line()
    args = parse_command_line(parser, argv, word_count.name)
    check_file_flow_arguments(args, CORPUS_FILES, word_count.name)
    return args


def main(argv: list[str] | None = None) -> int:
    try:
        args = parse_arguments(argv)
    except CommandRefused as refused:
        return refused.say()
    return run_file_flow(
        word_count,
        args,
        CORPUS_FILES,
        schema="wordcount",
        pipeline=PIPELINE,
        reducers=args.reducers,
        split_mb=args.split_mb,
        combiner=args.combiner,
    )


if __name__ == "__main__":
    exit_process(main())
