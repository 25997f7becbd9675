"""Benchmark: the sales ETL pipeline against hand-written DuckDB SQL over the same export files.

    python bench/sales.py [--size full|small] [--seed 1] [--keep DIR] [--timeout 3600]

One run:
1. generates an export folder with data/generate_sales.py ``--bad-share 0`` (every row valid, so that both contenders
   load the same rows), at the size's --days, --customers and --orders-per-day, or, with --keep DIR, reuses the
   folder this script generated there with the same arguments and generator source;
2. runs the hand-written SQL in a fresh process (``python -c`` importing duckdb only, so that its time is DuckDB's):
   one SQL script, written to the run folder, that reads every file of each kind with ``read_csv`` (``.csv`` and
   ``.csv.gz``, all varchar, columns matched by name) and ``read_parquet``, trims and types the values into tables of
   the same names and columns as the pipeline's staging tables (tasks/pipelines/sales/sql/001_star_schema.sql), then runs the
   pipeline's own model SQL over them (tasks/pipelines/sales/sql/refresh_marts.sql, verbatim) into a fresh DuckDB file, timing
   each step. So the difference between the contenders is what the pipeline does on top of DuckDB: reading in
   chunks, validation with reasons, quarantine, staging, the batch ledger, Prefect;
3. starts a real Prefect server (as bench/access_logs.py does) and runs the pipeline,
   ``python flows/sales.py --source DIR --warehouse W``, in a fresh process, timed end to end with the peak RSS of its
   process tree; then again on data/sample_sales, for the fixed cost of a run;
4. compares the two warehouses' sales.daily_revenue, sales.customer_lifetime, sales.dim_customer (customer_key,
   version, valid_from, valid_to) and sales.fact_orders (order_id, customer_key, amount, amount_usd), and the row
   counts of the four staging tables, and checks that the pipeline rejected nothing;
5. prints a markdown summary (seconds, factor against the SQL, peak RSS, rows/s, CPU, the SQL's steps, and where the
   pipeline's time went, from its task runs on the server) and writes it with the raw numbers to
   bench/results/sales_<size>_<time>.md and .json.

Each run's CPU time, and the rest of the machine's meanwhile, are reported as bench/word_count.py does: a run next to
someone else's work is marked DISTURBED.

Exit status: 0 when everything matches, 1 on differences, 2 when a run failed.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import polars as pl
import psutil

REPO = Path(__file__).resolve().parents[1]
GENERATOR = REPO / "data" / "generate_sales.py"
FLOW = REPO / "flows" / "sales.py"
SAMPLE = REPO / "data" / "sample_sales"
SQL_DIR = REPO / "tasks" / "pipelines" / "sales" / "sql"
# The star schema's rules as a rebuild from scratch, which the pipeline's incremental refresh_marts.sql must equal
FROM_SCRATCH = REPO / "tests" / "support" / "sales_model_from_scratch.sql"
RESULTS = REPO / "bench" / "results"
PYTHON = sys.executable
MARKER = ".bench_sales.json"

sys.path.insert(0, str(REPO / "bench"))
# The process plumbing (run_with_cpu wraps run_measured) and the CPU accounting are the other benchmarks', so that
# all of them measure alike.
from access_logs import PrefectServer, RunResult, _base_env, _frame_differences, prepare_generated, tail  # noqa: E402
from word_count import DISTURBED_CORES, CpuUse, markdown_table, run_with_cpu, task_phases  # noqa: E402

# Generator arguments per size. "full" is about 400 MiB of CSV (uncompressed); "small" is a smoke run of seconds.
SIZES = {
    "full": {"days": 14, "customers": 200_000, "orders_per_day": 90_000},
    "small": {"days": 5, "customers": 2_000, "orders_per_day": 4_000},
}
KINDS = ("customers", "orders", "order_lines", "fx_rates")

# The SQL contender's process: Python with DuckDB and nothing else, running the script the parent wrote step by step
# ("-- step: <name>" lines), printing each step's seconds; closing the database (its checkpoint) is a step too.
STEP = "-- step: "
RUN_SQL_SCRIPT = f"""\
import sys, time, duckdb
connection = duckdb.connect(sys.argv[1])
for part in open(sys.argv[2]).read().split("{STEP}")[1:]:
    step, sql = part.split("\\n", 1)
    started = time.perf_counter()
    connection.execute(sql).fetchall()
    print(f"step {{step}}: {{time.perf_counter() - started:.3f}} s", flush=True)
started = time.perf_counter()
connection.close()
print(f"step checkpoint: {{time.perf_counter() - started:.3f}} s", flush=True)
"""

# How the SQL contender types each kind's text, the pipeline's rules for valid values: trimmed of spaces and tabs
# (DuckDB's trim() takes spaces only; strip is a macro of the script), codes in one case, timestamps with their
# offset, decimals exact. The export day comes from the file name, as the pipeline's does.
# line_number, the last tie-break of refresh_marts.sql, is 0: DuckDB's read_csv has no line numbers, and keys are
# unique within a file, so it never decides anything on exports without bad rows.
COMMON_COLUMNS = """\
        parse_filename(filename) as batch_id,
        filename as source,
        0 as line_number,
        cast(strptime(replace(regexp_extract(parse_filename(filename), '_([0-9]{4}-?[0-9]{2}-?[0-9]{2})\\.', 1), '-', ''), '%Y%m%d') as date) as export_date,"""
TYPED_COLUMNS = {
    "customers": """\
        strip(customer_id) as customer_id,
        strip(name) as name,
        strip(email) as email,
        upper(strip(country)) as country,
        strip(segment) as segment,
        cast(strip(updated_at) as timestamptz) as updated_at""",
    "orders": """\
        strip(order_id) as order_id,
        strip(customer_id) as customer_id,
        cast(strip(order_ts) as timestamptz) as order_ts,
        lower(strip(status)) as status,
        upper(strip(currency)) as currency,
        cast(strip(updated_at) as timestamptz) as updated_at""",
    "order_lines": """\
        strip(order_id) as order_id,
        cast(strip(line_no) as integer) as line_no,
        strip(sku) as sku,
        cast(strip(quantity) as bigint) as quantity,
        cast(strip(unit_price) as decimal(18, 4)) as unit_price""",
    "fx_rates": """\
        cast(strip(day) as date) as day,
        upper(strip(currency)) as currency,
        cast(strip(rate_to_usd) as decimal(18, 10)) as rate_to_usd""",
}

COMPARED = {
    "sales.daily_revenue": "select * from sales.daily_revenue order by day, currency",
    "sales.customer_lifetime": "select * from sales.customer_lifetime order by customer_id",
    "sales.dim_customer": "select customer_key, version, valid_from, valid_to from sales.dim_customer order by customer_key",
    "sales.fact_orders": "select order_id, customer_key, amount, amount_usd from sales.fact_orders order by order_id",
}
STAGING_TABLES = tuple(f"sales.stg_{kind}" for kind in KINDS)


# ------------------------------------------------------------------------------------------------ data


def export_files(directory: Path) -> list[Path]:
    """What the pipeline reads: each kind's .csv, .csv.gz and .parquet files directly in the folder, in name order."""
    suffixes = (".csv", ".csv.gz", ".parquet")
    return sorted(
        p for p in directory.iterdir() if p.is_file() and p.name.startswith(KINDS) and p.name.endswith(suffixes)
    )


def files_of(files: list[Path], kind: str) -> list[Path]:
    """`kind`'s files: order_lines_... is not orders_..., since the day follows the kind's name directly."""
    return [p for p in files if re.match(rf"{kind}_[0-9]", p.name)]


def generator_command(directory: Path, size: dict, seed: int) -> list[str]:
    cmd = [PYTHON, str(GENERATOR), "--out", str(directory), "--seed", str(seed), "--bad-share", "0"]
    for name, value in size.items():
        cmd += ["--" + name.replace("_", "-"), str(value)]
    return cmd


def prepare_exports(directory: Path, size: dict, seed: int) -> str:
    """Make sure directory holds the exports for these arguments; return "reused" or "generated"."""
    wanted = {**size, "seed": seed, "bad_share": 0}
    command = generator_command(directory, size, seed)
    return prepare_generated(directory, GENERATOR, wanted, command, export_files, directory / MARKER)


def csv_bytes(files: list[Path]) -> int:
    """Bytes of CSV text: .csv files as they are, .csv.gz files uncompressed (Parquet files are not CSV)."""
    total = 0
    for path in files:
        if path.name.endswith(".csv.gz"):
            with gzip.open(path, "rb") as stream:
                while chunk := stream.read(1 << 22):
                    total += len(chunk)
        elif path.name.endswith(".csv"):
            total += path.stat().st_size
    return total


# ----------------------------------------------------------------------------------------- the SQL


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _file_list(files: list[Path]) -> str:
    # The script is a file to run and to read, as if written by hand for this folder: its paths are literals.
    return "[" + ", ".join(_literal(str(p)) for p in files) + "]"


def staging_sql(kind: str, files: list[Path]) -> str:
    """The insert of every `kind` file into its staging table: CSV files (gzipped or not) in one read_csv, columns
    matched by name (case and surrounding spaces do not matter to DuckDB), Parquet files in one read_parquet."""
    csv = [p for p in files if not p.name.endswith(".parquet")]
    parquet = [p for p in files if p.name.endswith(".parquet")]
    reads = []
    if csv:
        reads.append(
            f"    select * from read_csv({_file_list(csv)}, header = true, delim = ',', quote = '\"', escape = '\"', "
            "all_varchar = true, union_by_name = true, filename = true)"
        )
    if parquet:
        # its integer columns as text too, so that one typing serves both
        reads.append(
            f"    select cast(columns(*) as varchar) from read_parquet({_file_list(parquet)}, filename = true)"
        )
    return (
        f"insert into sales.stg_{kind} by name\n"
        "with deliveries as (\n"
        + "\n    union all by name\n".join(reads)
        + "\n),\n\nfinal as (\n    select\n"
        + COMMON_COLUMNS
        + "\n"
        + TYPED_COLUMNS[kind]
        + "\n    from deliveries\n)\n\nselect * from final;\n"
    )


def sql_script(files: list[Path]) -> str:
    """The SQL contender, whole: the pipeline's DDL, the staging inserts, and the star schema's rules as a rebuild from
    scratch (tests/support/sales_model_from_scratch.sql) in one transaction. meta.dirty_partitions is there because
    the pipeline's migrations mark it."""
    steps = {
        "schema": [
            r"create temporary macro strip(text) as trim(text, e' \t\r\n');",
            "create schema if not exists meta;",
            "create table meta.dirty_partitions (pipeline varchar not null, partition_day date not null);",
            *(script.read_text() for script in sorted(SQL_DIR.glob("[0-9][0-9][0-9]_*.sql"))),
        ],
        **{f"stage {kind}": [staging_sql(kind, files_of(files, kind))] for kind in KINDS if files_of(files, kind)},
        "model": ["begin transaction;", FROM_SCRATCH.read_text(), "commit;"],
    }
    return "".join(f"{STEP}{step}\n" + "\n\n".join(parts) + "\n\n" for step, parts in steps.items())


def sql_steps(log: Path) -> dict[str, float]:
    """The seconds of each step of the SQL contender, from its output."""
    return {step: float(seconds) for step, seconds in re.findall(r"^step (.+): ([0-9.]+) s$", log.read_text(), re.M)}


def sql_command(warehouse: Path, script: Path) -> list[str]:
    return [PYTHON, "-c", RUN_SQL_SCRIPT, str(warehouse), str(script)]


def flow_command(source: Path, warehouse: Path, *options: str) -> list[str]:
    return [PYTHON, str(FLOW), "--source", str(source), "--warehouse", str(warehouse), *options]


# ------------------------------------------------------------------------------------------- results


@dataclass
class Row:
    contender: str
    run: RunResult | None = None
    cpu: CpuUse | None = None
    note: str = ""
    profile: dict | None = None  # the pipeline's task timings, from the server

    @property
    def ok(self) -> bool:
        return self.run is not None and self.run.returncode == 0


def read_tables(warehouse: Path) -> dict[str, pl.DataFrame]:
    with duckdb.connect(str(warehouse), read_only=True) as con:
        con.execute("set timezone = 'UTC'")
        return {name: con.sql(query).pl() for name, query in COMPARED.items()}


def staging_counts(warehouse: Path) -> dict[str, int]:
    with duckdb.connect(str(warehouse), read_only=True) as con:
        return {table: con.execute(f"select count(*) from {table}").fetchone()[0] for table in STAGING_TABLES}


def compare_warehouses(pipeline: Path, sql: Path) -> list[str]:
    """Every difference between the pipeline's warehouse and the SQL's, and any row the pipeline rejected."""
    differences = []
    actual, expected = read_tables(pipeline), read_tables(sql)
    for name in COMPARED:
        # The fast path first: turning a million rows into Python tuples takes seconds.
        if actual[name].schema == expected[name].schema and actual[name].equals(expected[name]):
            continue
        differences += _frame_differences(name, actual[name], expected[name])
    got, want = staging_counts(pipeline), staging_counts(sql)
    differences += [f"{t}: {got[t]} rows, the SQL's has {want[t]}" for t in STAGING_TABLES if got[t] != want[t]]
    with duckdb.connect(str(pipeline), read_only=True) as con:
        rejects = con.execute("select count(*), any_value(reason) from meta.rejects").fetchone()
    if rejects[0]:
        differences.append(f"meta.rejects: the pipeline rejected {rejects[0]} rows of valid exports, e.g. {rejects[1]}")
    return differences


def flow_run_id(warehouse: Path) -> str:
    with duckdb.connect(str(warehouse), read_only=True) as con:
        return con.execute("select any_value(flow_run_id) from meta.batches where flow_run_id is not null").fetchone()[
            0
        ]


def pipeline_phases(api_url: str, run_id: str) -> dict:
    """bench/word_count.py's task_phases, with the per-file staging task runs ("stage orders_2026-10-01.csv") added
    up per kind of file ("stage orders"); the loads are one task run ("load sales exports")."""
    timings = task_phases(api_url, run_id)
    merged: dict[str, dict] = {}
    for name, entry in timings["phases"].items():
        phase = re.sub(rf"^(stage) ({'|'.join(KINDS)})_[0-9].*$", r"\1 \2", name)
        start = entry["starts_after_s"]
        end = None if start is None or entry["span_s"] is None else start + entry["span_s"]
        into = merged.setdefault(phase, {"tasks": 0, "run_seconds": 0.0, "starts_after_s": start, "end": end})
        into["tasks"] += entry["tasks"]
        into["run_seconds"] += entry["run_seconds"]
        if start is not None:
            into["starts_after_s"] = min(filter(lambda x: x is not None, (into["starts_after_s"], start)))
        if end is not None:
            into["end"] = max(filter(lambda x: x is not None, (into["end"], end)))
    for entry in merged.values():
        end = entry.pop("end")
        entry["span_s"] = None if end is None or entry["starts_after_s"] is None else end - entry["starts_after_s"]
    timings["phases"] = dict(sorted(merged.items(), key=lambda item: item[1]["starts_after_s"] or 0.0))
    return timings


def code_version() -> str:
    """The commit measured, and whether the code the runs use differed from it."""
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True, check=True
        ).stdout.strip()
        changed = subprocess.run(
            ["git", "status", "--porcelain", "--", "tasks", "flows", "bench/sales.py", "data/generate_sales.py"],
            cwd=REPO,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.split("\n")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    changed = [line[3:] for line in changed if line.strip()]
    return commit + (f" with uncommitted changes to {', '.join(changed)}" if changed else "")


def summary_rows(rows: list[Row], input_rows: int, input_bytes: int) -> list[list[str]]:
    reference = next((r for r in rows if r.contender == "hand-written DuckDB SQL" and r.ok), None)
    body = []
    for row in rows:
        run = row.run
        full = row.note != "fixed cost"
        seconds = "n/a" if run is None else f"{run.seconds:.2f}"
        ratio = "n/a" if run is None or reference is None or not full else f"{run.seconds / reference.run.seconds:.2f}x"
        per_second = "" if run is None or not full else f"{input_rows / run.seconds:,.0f}"
        mib_per_second = "" if run is None or not full else f"{input_bytes / 2**20 / run.seconds:.1f}"
        rss = "n/a" if run is None else f"{run.peak_rss_bytes / 2**20:,.0f}"
        cpu = "n/a" if row.cpu is None else f"{row.cpu.own_seconds:.1f}"
        other = "n/a" if row.cpu is None else f"{row.cpu.other_seconds:.1f}"
        if row.cpu is not None and row.cpu.disturbed(run.seconds):
            other += " DISTURBED"
        name = row.contender + (f" ({row.note})" if row.note else "")
        body.append([name, seconds, ratio, rss, per_second, mib_per_second, cpu, other])
    return body


def report_markdown(title: str, rows: list[Row], input_rows: int, input_bytes: int, verdict: str) -> str:
    header = ["contender", "seconds", "vs SQL", "peak RSS MiB", "rows/s", "CSV MiB/s", "CPU s", "other CPU s"]
    report = [title, "", markdown_table(header, summary_rows(rows, input_rows, input_bytes)), "", verdict]
    report += [
        "",
        f"rows/s: staged rows (all four kinds) per second of the whole process. CPU s: user + system time of the "
        f"contender's process tree ({os.cpu_count()} cores: at most {os.cpu_count()}x seconds). Other CPU s: what the "
        "rest of the machine used meanwhile (the Prefect server, this script's RSS sampling, anything else); "
        f"DISTURBED: more than {DISTURBED_CORES:g} of a core on average.",
    ]
    for row in rows:
        if not row.profile or "steps" not in row.profile:
            continue
        steps = row.profile["steps"]
        report += [
            "",
            f"## Where the SQL's time went: {sum(steps.values()):.2f} s of steps in the process's {row.run.seconds:.2f} s",
            "",
            markdown_table(["step", "seconds"], [[step, f"{seconds:.2f}"] for step, seconds in steps.items()]),
        ]
    for row in rows:
        if not row.profile or "phases" not in row.profile:
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
        flow_seconds = row.profile.get("flow_run_seconds") or 0.0
        report += [
            "",
            f"## Where the pipeline's time went: flow run {flow_seconds:.2f} s of the process's {row.run.seconds:.2f} s",
            "",
            markdown_table(["task", "task runs", "summed run s", "starts after flow start s", "wall span s"], body),
        ]
    return "\n".join(report)


def write_results(size_name: str, raw: dict, text: str) -> Path:
    RESULTS.mkdir(parents=True, exist_ok=True)
    stem = RESULTS / f"sales_{size_name}_{datetime.now(UTC):%Y%m%dT%H%M%S}"
    stem.with_suffix(".md").write_text(text + "\n")
    stem.with_suffix(".json").write_text(json.dumps(raw, indent=1, default=str) + "\n")
    return stem.with_suffix(".md")


# ------------------------------------------------------------------------------------------------ main


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", choices=sorted(SIZES), default="full", help="full (~400 MiB of CSV) or small")
    parser.add_argument("--seed", type=int, default=1, help="generator seed (default 1)")
    parser.add_argument("--keep", type=Path, metavar="DIR", help="work in DIR and keep it (the exports are reused)")
    parser.add_argument("--timeout", type=float, default=3600, help="seconds allowed for one run")
    args = parser.parse_args(argv)
    size = SIZES[args.size]
    version = code_version()  # before the runs: others may commit while they go on

    work = args.keep.resolve() if args.keep else Path(tempfile.mkdtemp(prefix="bench_sales_"))
    work.mkdir(parents=True, exist_ok=True)
    runs_dir = work / f"runs-{datetime.now(UTC):%Y%m%dT%H%M%S}"
    runs_dir.mkdir()
    exports = work / f"exports-{args.size}-seed{args.seed}"
    exports.mkdir(exist_ok=True)
    status = 0
    server: PrefectServer | None = None
    rows: list[Row] = []
    try:
        how = prepare_exports(exports, size, args.seed)
        files = export_files(exports)
        input_bytes = csv_bytes(files)
        forms = {form: sum(p.name.endswith(form) for p in files) for form in (".csv", ".csv.gz", ".parquet")}
        data_line = (
            f"{len(files)} files ({forms['.csv']} .csv, {forms['.csv.gz']} .csv.gz, {forms['.parquet']} .parquet), "
            f"{input_bytes / 2**20:.1f} MiB of CSV uncompressed, {sum(p.stat().st_size for p in files) / 2**20:.1f} "
            "MiB on disk"
        )
        print(f"exports: {exports} ({how}): {data_line}", flush=True)

        def measure(row: Row, cmd: list[str], env: dict[str, str]) -> bool:
            shown = ("'<the step runner>'" if argument == RUN_SQL_SCRIPT else argument for argument in cmd[1:])
            print(f"{row.contender}: {' '.join(shown)}", flush=True)
            log = runs_dir / (re.sub(r"\W+", "_", f"{row.contender}_{row.note}").strip("_") + ".log")
            row.run, row.cpu = run_with_cpu(cmd, env, log, args.timeout)
            rows.append(row)
            print(
                f"  exit {row.run.returncode} after {row.run.seconds:.2f} s, peak RSS "
                f"{row.run.peak_rss_bytes / 2**20:.0f} MiB, CPU {row.cpu.own_seconds:.1f} s "
                f"(the rest of the machine: {row.cpu.other_seconds:.1f} s)",
                flush=True,
            )
            if row.run.returncode != 0:
                print(f"  FAILED, last lines of {row.run.log}:\n{tail(row.run.log)}")
            return row.ok

        # 1. the hand-written SQL, before the server starts, so that nothing else runs meanwhile
        script = runs_dir / "sql_contender.sql"
        script.write_text(sql_script(files))
        sql_warehouse = runs_dir / "sql" / "warehouse.duckdb"
        sql_warehouse.parent.mkdir()
        plain_env = _base_env(work / "prefect_home")
        sql_row = Row("hand-written DuckDB SQL")
        if measure(sql_row, sql_command(sql_warehouse, script), plain_env):
            sql_row.profile = {"steps": sql_steps(sql_row.run.log)}

        # 2. the pipeline against a real Prefect server
        server = PrefectServer(work / "prefect_home", runs_dir / "prefect_server.log")
        server.start()
        print(f"prefect server: healthy at {server.api_url} after {server.started_in:.1f} s", flush=True)
        flow_env = {**plain_env, "PREFECT_API_URL": server.api_url}
        pipeline_warehouse = runs_dir / "pipeline" / "warehouse.duckdb"
        pipeline_warehouse.parent.mkdir()
        pipeline_row = Row("pipeline", note="Prefect server running")
        if measure(pipeline_row, flow_command(exports, pipeline_warehouse), flow_env):
            try:
                pipeline_row.profile = pipeline_phases(server.api_url, flow_run_id(pipeline_warehouse))
            except (OSError, ValueError, KeyError, TypeError, duckdb.Error) as error:
                print(f"  (no task timings from the server: {error})")
        tiny_warehouse = runs_dir / "tiny" / "warehouse.duckdb"
        tiny_warehouse.parent.mkdir()
        measure(
            Row(f"pipeline on {SAMPLE.relative_to(REPO)}", note="fixed cost"),
            flow_command(SAMPLE, tiny_warehouse),
            flow_env,
        )
        code = server.stop()
        server = None
        print(f"prefect server: stopped (exit {code})", flush=True)

        # 3. compare
        input_rows = sum(staging_counts(sql_warehouse).values()) if sql_row.ok else 0
        differences: list[str] = []
        if any(not r.ok for r in rows):
            status = 2
            verdict = "FAILED: a run failed, see above."
        else:
            differences = compare_warehouses(pipeline_warehouse, sql_warehouse)
            if differences:
                status = 1
                verdict = "MISMATCH between the pipeline's warehouse and the SQL's:\n\n```\n" + "\n".join(differences)
                verdict += "\n```"
            else:
                verdict = (
                    "MATCH: sales.daily_revenue, sales.customer_lifetime, sales.dim_customer (key, version, validity) "
                    "and sales.fact_orders (order, customer version, amounts) are equal, the staging tables hold as "
                    "many rows, and the pipeline rejected none."
                )
        print("\n" + verdict)

        generated_by = " ".join(["data/generate_sales.py", *generator_command(Path("DIR"), size, args.seed)[2:]])
        title = [
            f"# Sales benchmark, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC",
            "",
            "`" + " ".join(["python bench/sales.py", *(sys.argv[1:] if argv is None else argv)]) + "`",
            "",
            f"Exports: {data_line}, {input_rows:,} rows, from `python {generated_by}`. "
            f"Machine: {os.cpu_count()} cores, "
            f"{psutil.virtual_memory().total / 2**30:.0f} GiB, Python {platform.python_version()}, "
            f"Polars {pl.__version__}, DuckDB {duckdb.__version__}. Code: {version}.",
        ]
        text = report_markdown("\n".join(title), rows, input_rows, input_bytes, verdict)
        print("\n" + text)
        raw = {
            "args": vars(args),
            "generator_args": size | {"seed": args.seed, "bad_share": 0},
            "code": version,
            "files": {p.name: p.stat().st_size for p in files},
            "csv_bytes_uncompressed": input_bytes,
            "input_rows": input_rows,
            "rows": [
                {
                    "contender": r.contender,
                    "note": r.note,
                    "run": None if r.run is None else asdict(r.run),
                    "cpu": None if r.cpu is None else asdict(r.cpu),
                    "profile": r.profile,
                }
                for r in rows
            ],
            "differences": differences,
        }
        written = write_results(args.size, raw, text)
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
