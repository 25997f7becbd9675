"""Benchmark: the MapReduce word-count pipeline against a plain Polars query and a plain multiprocessing MapReduce.

    python bench/word_count.py [--size-mb 1000] [--files 8] [--gzip-share 0.25] [--keep DIR] [--skip-dask]

One run:
1. generates N MiB of text with data/generate_corpus.py (or, with --keep DIR, reuses the corpus this script
   generated there with the same arguments and generator source);
2. runs each contender in a fresh subprocess, timing it end to end and sampling the RSS of its whole process tree:
   - the plain Polars query: one lazy scan of every file's lines (.txt.gz included), the word regex, a streaming
     group-by of the tokens, then the word rule's casefold + NFC on the distinct tokens and a re-aggregation;
   - a plain multiprocessing MapReduce: a Pool of one process per core over line-aligned byte ranges of the files
     (a .gz file whole), each mapping chunks with the same Polars extract_all and combining into a Counter,
     the parent reducing by merging the Counters;
   - the pipeline, ``python flows/word_count.py --source DIR --warehouse W --reducers 4``, against a real Prefect
     server (``prefect server start`` on a free local port, as bench/access_logs.py does), and again with
     ``--dask-workers 2`` unless --skip-dask;
3. runs the pipeline and the Polars query again on the first quarter of the files, to show how peak RSS
   follows the corpus size (the pipeline's should not: it is bounded by its split and chunk sizes);
4. runs the pipeline on a tiny input with the server and without PREFECT_API_URL (Prefect then starts its own
   temporary server) to show the fixed cost of a run;
5. compares every contender's full (word, count) table with the Polars query's, prints where the pipeline's time
   went (its task runs, from the server's API, and its Hadoop counters from wordcount.runs), a markdown summary,
   and writes it with the raw numbers to bench/results/. Each run's CPU time, and the rest of the machine's meanwhile,
   are reported too: on a shared machine a run next to someone's test suite is marked DISTURBED.

Every contender applies the word rule of tasks/pipelines/word_count/source.py (WORD and normalize_word) per line, so their counts
must be equal. The CR of a CRLF line end, a lone CR and the BOM are not word characters, so whether a reader keeps
them cannot change a count; an empty line has no words.

Exit status: 0 when everything matches, 1 on differences, 2 when a run failed.
Uses only the standard library, duckdb, polars and psutil.
"""

from __future__ import annotations

import argparse
import gzip
import json
import multiprocessing
import os
import platform
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import urllib.request
from collections import Counter
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import polars as pl
import psutil

REPO = Path(__file__).resolve().parents[1]
GENERATOR = REPO / "data" / "generate_corpus.py"
FLOW = REPO / "flows" / "word_count.py"
RESULTS = REPO / "bench" / "results"
PYTHON = sys.executable
MARKER = ".bench_word_count.json"

sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))
# The process plumbing (measured runs, the Prefect server) is the access-log benchmark's, so both measure alike.
from access_logs import (  # noqa: E402
    PrefectServer,
    RunResult,
    _base_env,
    _frame_differences,
    prepare_generated,
    run_measured,
    tail,
)

from tasks.pipelines.word_count.source import WORD, normalize_word  # noqa: E402

REDUCERS = 4
DASK_WORKERS = 2
# The multiprocessing baseline's units of work, the same sizes as the pipeline's defaults (tasks/core/settings.py).
SPLIT_BYTES = 64 << 20
CHUNK_BYTES = 16 << 20
TINY_TEXT = "The quick brown fox — don't panic!\r\nL’homme et la STRASSE, Straße.\n\n東京大学 mp3 snake_case\n"
COUNT_SCHEMA = {"word": pl.String, "count": pl.Int64}
DISTURBED_CORES = 0.25


# ------------------------------------------------------------------------------------------------ data


def corpus_files(directory: Path) -> list[Path]:
    """What the pipeline reads: *.txt and *.txt.gz directly in the folder, in name order."""
    return sorted(p for pattern in ("*.txt", "*.txt.gz") for p in directory.glob(pattern) if p.is_file())


def prepare_corpus(directory: Path, size_mb: float, seed: int, files: int, gzip_share: float) -> str:
    """Make sure directory holds the corpus for these arguments; return "reused" or "generated"."""
    cmd = [PYTHON, str(GENERATOR), "--out", str(directory), "--size-mb", str(size_mb), "--seed", str(seed)]
    cmd += ["--files", str(files), "--gzip-share", str(gzip_share)]
    wanted = {"size_mb": size_mb, "seed": seed, "files": files, "gzip_share": gzip_share}
    return prepare_generated(directory, GENERATOR, wanted, cmd, corpus_files, directory / MARKER)


def link_subset(corpus: Path, subset: Path, count: int) -> list[Path]:
    """A folder of hard links to the first `count` files: a smaller corpus of the same text, without generating it.
    Not symlinks: discovery follows a link only inside its source folder, so the pipeline would find no file."""
    shutil.rmtree(subset, ignore_errors=True)
    subset.mkdir(parents=True)
    for path in corpus_files(corpus)[:count]:
        try:
            os.link(path, subset / path.name)
        except OSError:  # another file system: a copy reads the same
            shutil.copyfile(path, subset / path.name)
    return corpus_files(subset)


def uncompressed_bytes(files: list[Path]) -> int:
    total = 0
    for path in files:
        if path.name.endswith(".gz"):
            with gzip.open(path, "rb") as stream:
                while chunk := stream.read(1 << 22):
                    total += len(chunk)
        else:
            total += path.stat().st_size
    return total


# ----------------------------------------------------------------------------------------- contenders


def tokens_of(lines: pl.Expr) -> pl.Expr:
    """Every regex match of every line, unnormalized: the pipeline's tasks/word_count.words before casefolding."""
    return lines.str.extract_all(WORD).alias("token")


def normalized_counts(token_counts: pl.DataFrame) -> pl.DataFrame:
    """(token, count) to (word, count): normalize_word once per distinct token, then add up the tokens that
    become the same word ("Straße" and "STRASSE")."""
    words = [normalize_word(token) for token in token_counts.get_column("token").to_list()]
    return (
        token_counts.with_columns(word=pl.Series(words, dtype=pl.String))
        .group_by("word")
        .agg(pl.col("count").sum())
        .cast(COUNT_SCHEMA)
    )


def polars_query(source: Path) -> pl.DataFrame:
    # scan_lines reads .txt.gz too and splits at "\n" only, keeping empty lines and lone CRs: the pipeline's lines,
    # but that it drops the CR of a CRLF, which is no word character anyway.
    token_counts = (
        pl.scan_lines(corpus_files(source), name="raw")
        .select(tokens_of(pl.col("raw")))
        .explode("token")
        .drop_nulls("token")  # a line without words explodes to one null
        .group_by("token")
        .agg(pl.len().cast(pl.Int64).alias("count"))
        .collect(engine="streaming")
    )
    return normalized_counts(token_counts)


def plan_byte_splits(files: list[Path], split_bytes: int) -> list[tuple[str, int, int]]:
    """(path, start, end) ranges of about split_bytes, each starting at a line start so that they tile every file;
    a .gz file, which cannot be read from the middle, is one range (end -1: to the end of the stream)."""
    splits = []
    for path in files:
        size = path.stat().st_size
        if path.name.endswith(".gz"):
            splits.append((str(path), 0, -1))
            continue
        cuts = [0]
        with path.open("rb") as stream:
            for offset in range(split_bytes, size, split_bytes):
                stream.seek(offset - 1)
                stream.readline()  # to the end of the line holding byte offset - 1: the next line starts the range
                if cuts[-1] < stream.tell() < size:
                    cuts.append(stream.tell())
        cuts.append(size)
        splits += [(str(path), start, end) for start, end in zip(cuts, cuts[1:], strict=False)]
    return splits


def map_byte_split(split: tuple[str, int, int]) -> Counter:
    """The map and combiner of one range: its lines in chunks of whole lines, tokens counted by Polars per chunk,
    folded into one Counter of normalized words."""
    path, start, end = split
    counts: Counter = Counter()
    normalized: dict[str, str] = {}

    def count_lines(text: bytes) -> None:
        tokens = pl.read_lines(text, name="raw").select(tokens_of(pl.col("raw"))).explode("token").drop_nulls()
        for token, count in tokens.group_by("token").len().iter_rows():
            word = normalized.get(token)
            if word is None:
                word = normalized[token] = normalize_word(token)
            counts[word] += count

    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rb") as stream:
        stream.seek(start)
        remaining = None if end < 0 else end - start
        carry = b""
        while remaining is None or remaining > 0:
            block = stream.read(CHUNK_BYTES if remaining is None else min(CHUNK_BYTES, remaining))
            if not block:
                break
            if remaining is not None:
                remaining -= len(block)
            data = carry + block
            cut = data.rfind(b"\n")
            if cut < 0:  # a line longer than a chunk: read on
                carry = data
                continue
            carry = data[cut + 1 :]
            count_lines(data[: cut + 1])
        if carry:  # the file's last line, without its newline
            count_lines(carry)
    return counts


def multiprocessing_mapreduce(source: Path) -> pl.DataFrame:
    splits = plan_byte_splits(corpus_files(source), SPLIT_BYTES)
    # One single-threaded Polars per process, one process per core: the parallelism is the pool's. Spawned, since
    # forking a process whose Polars thread pool is running can deadlock the child.
    os.environ["POLARS_MAX_THREADS"] = "1"
    totals: Counter = Counter()
    with multiprocessing.get_context("spawn").Pool(os.cpu_count()) as pool:
        for counts in pool.imap_unordered(map_byte_split, splits):
            totals.update(counts)  # the reduce
    return pl.DataFrame({"word": list(totals), "count": list(totals.values())}, schema=COUNT_SCHEMA)


CONTENDERS = {"polars": polars_query, "multiprocessing": multiprocessing_mapreduce}


def run_contender(name: str, source: Path, output: Path) -> int:
    """The body of a contender's subprocess: count, and write the counts for the parent to compare."""
    CONTENDERS[name](source).write_parquet(output)
    return 0


def contender_command(name: str, source: Path, output: Path) -> list[str]:
    return [
        PYTHON,
        str(Path(__file__).resolve()),
        "--contender",
        name,
        "--source",
        str(source),
        "--output",
        str(output),
    ]


def flow_command(source: Path, warehouse: Path, dask_workers: int = 0) -> list[str]:
    cmd = [PYTHON, str(FLOW), "--source", str(source), "--warehouse", str(warehouse), "--reducers", str(REDUCERS)]
    return cmd + (["--dask-workers", str(dask_workers)] if dask_workers else [])


# ------------------------------------------------------------------------------------------- results


@dataclass
class CpuUse:
    own_seconds: float  # user + system time of the run's process tree: it and every child it waited for
    machine_seconds: float  # busy time of every core meanwhile: the run, the Prefect server, the RSS sampling, others

    @property
    def other_seconds(self) -> float:
        return max(0.0, self.machine_seconds - self.own_seconds)

    def disturbed(self, wall_seconds: float) -> bool:
        """Whether something else kept more than a quarter of a core busy on average (the Prefect server's own
        background work stays well below, but for a second or so after it starts), so that the run's time is not its
        own."""
        return self.other_seconds > max(DISTURBED_CORES * wall_seconds, 2.0)


def _machine_busy_seconds() -> float:
    times = psutil.cpu_times()
    return times.user + times.nice + times.system + times.irq + times.softirq + getattr(times, "steal", 0.0)


def run_with_cpu(cmd: list[str], env: dict[str, str], log: Path, timeout: float) -> tuple[RunResult, CpuUse]:
    """run_measured, and the CPU time the run used and the whole machine used meanwhile: on a shared machine, a
    slow run next to a busy machine was disturbed, not slow."""
    children_before = resource.getrusage(resource.RUSAGE_CHILDREN)
    machine_before = _machine_busy_seconds()
    run = run_measured(cmd, env, log, timeout)
    children_after = resource.getrusage(resource.RUSAGE_CHILDREN)
    own = (children_after.ru_utime + children_after.ru_stime) - (children_before.ru_utime + children_before.ru_stime)
    return run, CpuUse(own, _machine_busy_seconds() - machine_before)


@dataclass
class Row:
    contender: str
    corpus: str  # "full" or "subset"
    input_bytes: int
    run: RunResult | None = None
    counts: pl.DataFrame | None = None  # sorted by word
    note: str = ""
    verdict: str = ""
    cpu: CpuUse | None = None
    counters: dict | None = None  # a pipeline run's Hadoop counters
    profile: dict | None = None  # a pipeline run's task timings

    @property
    def ok(self) -> bool:
        return self.run is not None and self.run.returncode == 0 and self.counts is not None


def read_counts(path: Path) -> pl.DataFrame:
    return pl.read_parquet(path).cast(COUNT_SCHEMA).sort("word")


def read_pipeline_counts(warehouse: Path) -> pl.DataFrame:
    with duckdb.connect(str(warehouse), read_only=True) as con:
        return con.sql("SELECT word, count FROM wordcount.word_counts").pl().cast(COUNT_SCHEMA).sort("word")


def read_pipeline_counters(warehouse: Path) -> dict | None:
    """The run's Hadoop counters (the last row of wordcount.runs: each benchmark warehouse holds one run); None when
    the run loaded nothing."""
    with duckdb.connect(str(warehouse), read_only=True) as con:
        frame = con.sql("SELECT * FROM wordcount.runs ORDER BY loaded_at DESC LIMIT 1").pl()
    if frame.is_empty():
        return None
    return {k: (str(v) if isinstance(v, datetime) else v) for k, v in frame.row(0, named=True).items()}


def _api_post(api_url: str, path: str, body: dict) -> list | dict:
    request = urllib.request.Request(
        f"{api_url}{path}", data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())


def _api_get(api_url: str, path: str) -> dict:
    with urllib.request.urlopen(f"{api_url}{path}", timeout=30) as response:
        return json.loads(response.read())


def _timestamp(text: str | None) -> float | None:
    return datetime.fromisoformat(text).timestamp() if text else None


def task_phases(api_url: str, flow_run_id: str) -> dict:
    """Where a flow run's time went, from the server: per phase (map, reduce, each other task), the task runs'
    summed run time and the wall-clock span from the first start to the last end; and the flow run's own times."""
    runs, offset = [], 0
    while True:
        page = _api_post(
            api_url,
            "/task_runs/filter",
            {
                "flow_runs": {"id": {"any_": [flow_run_id]}},
                "sort": "EXPECTED_START_TIME_ASC",
                "limit": 200,
                "offset": offset,
            },
        )
        runs += page
        offset += len(page)
        if len(page) < 200:
            break
    flow_run = _api_get(api_url, f"/flow_runs/{flow_run_id}")
    flow_start = _timestamp(flow_run.get("start_time"))
    phases: dict[str, dict] = {}
    for run in runs:
        name = run["name"]
        # "map doc-0001.txt bytes ..." and "reduce partition 2" are one phase each; other tasks are named
        # "<task>-<3 hex digits>"
        phase = name.split(" ")[0] if name.startswith(("map ", "reduce ")) else re.sub(r"-[0-9a-f]{3}$", "", name)
        start, end = _timestamp(run.get("start_time")), _timestamp(run.get("end_time"))
        entry = phases.setdefault(phase, {"tasks": 0, "run_seconds": 0.0, "first_start": start, "last_end": end})
        entry["tasks"] += 1
        entry["run_seconds"] += run.get("total_run_time") or 0.0
        if start is not None:
            entry["first_start"] = min(filter(None, (entry["first_start"], start)))
        if end is not None:
            entry["last_end"] = max(filter(None, (entry["last_end"], end)))
    for entry in phases.values():
        first, last = entry.pop("first_start"), entry.pop("last_end")
        entry["starts_after_s"] = None if first is None or flow_start is None else first - flow_start
        entry["span_s"] = None if first is None or last is None else last - first
    return {
        "flow_run_seconds": flow_run.get("total_run_time"),
        "flow_run_state": (flow_run.get("state") or {}).get("type"),
        # in the order they started: tasks are created in the flow's order, not always started in it
        "phases": dict(sorted(phases.items(), key=lambda item: item[1]["starts_after_s"] or 0.0)),
    }


def compare_rows(rows: list[Row]) -> int:
    """Set each row's verdict against the Polars query on the same corpus; 1 if any differs."""
    status = 0
    expected_by_corpus = {r.corpus: r.counts for r in rows if r.contender == "polars query" and r.ok}
    for row in rows:
        expected = expected_by_corpus.get(row.corpus)
        if not row.ok:
            row.verdict = "FAILED"
        elif row.contender == "polars query":
            row.verdict = "reference"
        elif expected is None:
            row.verdict = "n/a (no reference)"
        else:
            differences = _frame_differences(row.contender, row.counts, expected)
            row.verdict = "MATCH" if not differences else "MISMATCH"
            if differences:
                print(f"\nMISMATCH {row.contender} ({row.corpus} corpus) against the Polars query:")
                print("\n".join(differences))
                status = 1
    return status


def markdown_table(header: list[str], body: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    return "\n".join(lines + ["| " + " | ".join(cells) + " |" for cells in body])


def summary_rows(rows: list[Row], corpus: str) -> list[list[str]]:
    reference = next((r for r in rows if r.contender == "polars query" and r.corpus == corpus and r.ok), None)
    body = []
    for row in (r for r in rows if r.corpus == corpus):
        run = row.run
        seconds = "n/a" if run is None else f"{run.seconds:.2f}"
        ratio = "n/a" if run is None or reference is None else f"{run.seconds / reference.run.seconds:.2f}x"
        throughput = "n/a" if run is None else f"{row.input_bytes / 2**20 / run.seconds:.1f}"
        rss = "n/a" if run is None else f"{run.peak_rss_bytes / 2**20:.0f}"
        cpu = "n/a" if row.cpu is None else f"{row.cpu.own_seconds:.1f}"
        other_cpu = "n/a" if row.cpu is None else f"{row.cpu.other_seconds:.1f}"
        if row.cpu is not None and row.cpu.disturbed(run.seconds):
            other_cpu += " DISTURBED"
        distinct = "n/a" if row.counts is None else f"{row.counts.height:,}"
        total = "n/a" if row.counts is None else f"{row.counts.get_column('count').sum():,}"
        name = row.contender + (f" ({row.note})" if row.note else "")
        body.append([name, seconds, ratio, throughput, rss, cpu, other_cpu, distinct, total, row.verdict])
    return body


# ------------------------------------------------------------------------------------------------ main


def code_version() -> str:
    """The commit measured, and whether the code the runs import differed from it: results of other code are not
    comparable."""
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True, check=True
        ).stdout.strip()
        changed = subprocess.run(
            ["git", "status", "--porcelain", "--", "tasks", "flows", "bench/word_count.py"],
            cwd=REPO,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.split("\n")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    changed = [line[3:] for line in changed if line.strip()]
    return commit + (f" with uncommitted changes to {', '.join(changed)}" if changed else "")


def report_markdown(title: str, rows: list[Row], fixed_cost: dict[str, RunResult], server_started_in: float) -> str:
    header = ["contender", "seconds", "vs Polars query", "MiB/s", "peak RSS MiB", "CPU s", "other CPU s"]
    header += ["distinct words", "total words", "counts vs Polars query"]
    report = [title, "", markdown_table(header, summary_rows(rows, "full"))]
    report += [
        "",
        f"CPU s: user + system time of the contender's process tree ({os.cpu_count()} cores: at most "
        f"{os.cpu_count()}x seconds). Other CPU s: what the rest of the machine used meanwhile, the Prefect server, "
        "this script's RSS sampling and anything else running; DISTURBED: more than "
        f"{DISTURBED_CORES:g} of a core on average, so the run's time is not its own.",
    ]
    scaling = sorted(
        (r for r in rows if r.contender in ("pipeline", "polars query") and r.run is not None),
        key=lambda r: (r.contender, r.input_bytes),
    )
    if any(r.corpus == "subset" for r in scaling):
        body = [
            [
                r.contender,
                f"{r.input_bytes / 2**20:.0f}",
                f"{r.run.seconds:.2f}",
                f"{r.run.peak_rss_bytes / 2**20:.0f}",
                f"{r.cpu.own_seconds:.1f}",
                f"{r.cpu.other_seconds:.1f}" + (" DISTURBED" if r.cpu.disturbed(r.run.seconds) else ""),
            ]
            for r in scaling
        ]
        report += ["", "## Peak RSS against corpus size", ""]
        header = ["contender", "corpus MiB", "seconds", "peak RSS MiB", "CPU s", "other CPU s"]
        report.append(markdown_table(header, body))
    report += ["", "## Fixed cost of a pipeline run (a tiny corpus)", ""]
    report.append(
        markdown_table(["Prefect", "seconds"], [[name, f"{r.seconds:.2f}"] for name, r in fixed_cost.items()])
    )
    report += [
        "",
        f"`prefect server start` took {server_started_in:.1f} s to become healthy (in none of the times above).",
    ]
    for row in rows:
        if not row.profile or row.corpus != "full":
            continue
        body = [
            [
                phase,
                str(entry["tasks"]),
                f"{entry['run_seconds']:.2f}",
                "n/a" if entry["starts_after_s"] is None else f"{entry['starts_after_s']:.2f}",
                "n/a" if entry["span_s"] is None else f"{entry['span_s']:.2f}",
            ]
            for phase, entry in row.profile["phases"].items()
        ]
        report += [
            "",
            f"## Where the time of {row.contender} ({row.note}) went: flow run {row.profile['flow_run_seconds']:.2f} s "
            f"of the process's {row.run.seconds:.2f} s",
            "",
            markdown_table(["phase", "task runs", "summed run s", "starts after flow start s", "wall span s"], body),
        ]
    counted = next((r for r in rows if r.contender == "pipeline" and r.corpus == "full" and r.counters), None)
    if counted:
        report += ["", "Hadoop counters (wordcount.runs):", "", "```", json.dumps(counted.counters, indent=1), "```"]
    return "\n".join(report)


def write_results(
    args: argparse.Namespace, version: str, text: str, rows: list[Row], fixed_cost: dict[str, RunResult]
) -> Path:
    """The markdown report, and beside it the raw numbers as JSON."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    stem = RESULTS / f"word_count_{args.size_mb:g}mb_{datetime.now(UTC):%Y%m%dT%H%M%S}"
    stem.with_suffix(".md").write_text(text + "\n")
    raw = {
        "args": vars(args),
        "code": version,
        "rows": [
            {
                "contender": r.contender,
                "note": r.note,
                "corpus": r.corpus,
                "input_bytes": r.input_bytes,
                "verdict": r.verdict,
                "distinct_words": None if r.counts is None else r.counts.height,
                "total_words": None if r.counts is None else int(r.counts.get_column("count").sum()),
                "run": None if r.run is None else asdict(r.run),
                "cpu": None if r.cpu is None else asdict(r.cpu),
                "counters": r.counters,
                "profile": r.profile,
            }
            for r in rows
        ],
        "fixed_cost": {name: asdict(run) for name, run in fixed_cost.items()},
    }
    stem.with_suffix(".json").write_text(json.dumps(raw, indent=1, default=str) + "\n")
    return stem.with_suffix(".md")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size-mb", type=float, default=1000, help="MiB of uncompressed text to generate (1000)")
    parser.add_argument("--files", type=int, default=8, help="files of the corpus (default 8)")
    parser.add_argument("--gzip-share", type=float, default=0.25, help="share of .txt.gz files (default 0.25)")
    parser.add_argument("--seed", type=int, default=1, help="generator seed (default 1)")
    parser.add_argument(
        "--subset-files",
        type=int,
        help="files of the smaller corpus the RSS-vs-size runs read (default: a quarter of --files; 0: skip them)",
    )
    parser.add_argument("--keep", type=Path, metavar="DIR", help="work in DIR and keep it (the corpus is reused)")
    parser.add_argument("--skip-dask", action="store_true", help="skip the pipeline run on a local Dask cluster")
    parser.add_argument("--timeout", type=float, default=3600, help="seconds allowed for one run")
    # A contender's own subprocess.
    parser.add_argument("--contender", choices=sorted(CONTENDERS), help=argparse.SUPPRESS)
    parser.add_argument("--source", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--output", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.contender:
        return run_contender(args.contender, args.source, args.output)
    subset_files = max(1, args.files // 4) if args.subset_files is None else args.subset_files
    version = code_version()  # before the runs: others may commit while they go on

    work = args.keep.resolve() if args.keep else Path(tempfile.mkdtemp(prefix="bench_word_count_"))
    work.mkdir(parents=True, exist_ok=True)
    runs_dir = work / f"runs-{datetime.now(UTC):%Y%m%dT%H%M%S}"
    runs_dir.mkdir()
    corpus = work / f"corpus-{args.size_mb:g}mb-seed{args.seed}-files{args.files}-gz{args.gzip_share:g}"
    corpus.mkdir(exist_ok=True)
    status = 0
    server: PrefectServer | None = None
    rows: list[Row] = []
    fixed_cost: dict[str, RunResult] = {}
    try:
        how = prepare_corpus(corpus, args.size_mb, args.seed, args.files, args.gzip_share)
        files = corpus_files(corpus)
        input_bytes = uncompressed_bytes(files)
        gzipped = sum(p.name.endswith(".gz") for p in files)
        print(
            f"corpus: {corpus} ({how}): {len(files)} files ({gzipped} gzipped), {input_bytes / 2**20:.1f} MiB "
            f"uncompressed, {sum(p.stat().st_size for p in files) / 2**20:.1f} MiB on disk",
            flush=True,
        )
        corpora = [("full", corpus, input_bytes)]
        if 0 < subset_files < len(files):
            subset = link_subset(corpus, runs_dir / "subset", subset_files)
            corpora.append(("subset", runs_dir / "subset", uncompressed_bytes(subset)))
            print(f"subset: the first {subset_files} files, {corpora[-1][2] / 2**20:.1f} MiB uncompressed", flush=True)

        server = PrefectServer(work / "prefect_home", runs_dir / "prefect_server.log")
        server.start()
        server_started_in = server.started_in
        print(f"prefect server: healthy at {server.api_url} after {server_started_in:.1f} s", flush=True)
        plain_env = _base_env(server.home)
        flow_env = {**plain_env, "PREFECT_API_URL": server.api_url}

        def measure(row: Row, cmd: list[str], env: dict[str, str]) -> bool:
            print(f"{row.contender} ({row.corpus}): {' '.join(cmd[1:])}", flush=True)
            log = runs_dir / (re.sub(r"\W+", "_", f"{row.contender}_{row.corpus}") + ".log")
            row.run, row.cpu = run_with_cpu(cmd, env, log, args.timeout)
            rows.append(row)
            print(
                f"  exit {row.run.returncode} after {row.run.seconds:.2f} s, "
                f"peak RSS {row.run.peak_rss_bytes / 2**20:.0f} MiB, CPU {row.cpu.own_seconds:.1f} s "
                f"(the rest of the machine: {row.cpu.other_seconds:.1f} s)",
                flush=True,
            )
            if row.run.returncode != 0:
                print(f"  FAILED, last lines of {row.run.log}:\n{tail(row.run.log)}")
            return row.run.returncode == 0

        for corpus_name, source, size in corpora:
            contenders = [("polars query", "polars", "")]
            if corpus_name == "full":
                contenders.append(("multiprocessing MapReduce", "multiprocessing", f"{os.cpu_count()} processes"))
            for label, name, note in contenders:
                output = runs_dir / f"{name}_{corpus_name}.parquet"
                row = Row(label, corpus_name, size, note=note)
                if measure(row, contender_command(name, source, output), plain_env):
                    row.counts = read_counts(output)

            variants = [0] if corpus_name != "full" or args.skip_dask else [0, DASK_WORKERS]
            for dask_workers in variants:
                label = "pipeline on Dask" if dask_workers else "pipeline"
                note = f"{REDUCERS} reducers" + (f", {dask_workers} Dask workers" if dask_workers else "")
                row = Row(label, corpus_name, size, note=note)
                warehouse = runs_dir / re.sub(r"\W+", "_", f"{label}_{corpus_name}") / "warehouse.duckdb"
                warehouse.parent.mkdir()
                if not measure(row, flow_command(source, warehouse, dask_workers), flow_env):
                    continue
                row.counts = read_pipeline_counts(warehouse)
                row.counters = read_pipeline_counters(warehouse)
                if row.counters is None:  # its counts would be empty: compare_rows says DIFFERENT
                    print("  the run loaded nothing (wordcount.runs is empty)")
                    continue
                try:
                    row.profile = task_phases(server.api_url, row.counters["flow_run_id"])
                except (OSError, ValueError, KeyError) as error:
                    print(f"  (no task timings from the server: {error})")

        tiny = runs_dir / "tiny"
        tiny.mkdir()
        (tiny / "tiny.txt").write_text(TINY_TEXT)
        cmd = flow_command(tiny, runs_dir / "tiny_server" / "warehouse.duckdb")
        fixed_cost["with server"] = run_measured(cmd, flow_env, runs_dir / "tiny_server.log", args.timeout)
        code = server.stop()
        print(f"prefect server: stopped (exit {code})", flush=True)
        server = None
        # Without a server Prefect starts a temporary one for the run, in the stopped server's PREFECT_HOME, whose
        # database is migrated already (as bench/access_logs.py explains).
        cmd = flow_command(tiny, runs_dir / "tiny_temporary" / "warehouse.duckdb")
        fixed_cost["temporary server"] = run_measured(cmd, plain_env, runs_dir / "tiny_temporary.log", args.timeout)
        for name, run in fixed_cost.items():
            print(f"tiny run, {name}: exit {run.returncode} after {run.seconds:.2f} s", flush=True)
            if run.returncode != 0:
                print(f"  FAILED, last lines of {run.log}:\n{tail(run.log)}")

        if any(not r.ok for r in rows) or any(r.returncode != 0 for r in fixed_cost.values()):
            status = 2
        status = max(status, compare_rows(rows))
        title = [
            f"# Word count benchmark, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC",
            "",
            "`" + " ".join(["python bench/word_count.py", *(sys.argv[1:] if argv is None else argv)]) + "`",
            "",
            f"Corpus: {len(files)} files ({gzipped} .txt.gz), {input_bytes / 2**20:.1f} MiB uncompressed, from "
            f"`data/generate_corpus.py --size-mb {args.size_mb:g} --seed {args.seed} --files {args.files} "
            f"--gzip-share {args.gzip_share:g}`. Machine: {os.cpu_count()} cores, "
            f"{psutil.virtual_memory().total / 2**30:.0f} GiB, Python {platform.python_version()}, "
            f"Polars {pl.__version__}, DuckDB {duckdb.__version__}. Code: {version}.",
        ]
        text = report_markdown("\n".join(title), rows, fixed_cost, server_started_in)
        print("\n" + text)
        written = write_results(args, version, text, rows, fixed_cost)
        print(f"\nwritten: {written.relative_to(REPO)} and {written.with_suffix('.json').name}")
    finally:
        if server is not None:
            server.stop()
        if args.keep:
            print(f"\nkept: {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    return status


if __name__ == "__main__":
    sys.exit(main())
