"""Independent reference computation of the access-log marts.

Written from the specification only (never from flows/access_logs.py), so that the tests can check the
pipeline against it and the benchmark can use it as "plain hand-written DuckDB SQL over the same files".
The SQL lives in ``independent_access_logs.sql`` next to this module; this module only finds the input files
and chooses how DuckDB reads their lines.

Reading lines
-------------
Lines are split on "\\n" only; a file's final "\\n" does not start another line; an empty line is a line
(and is rejected). Two readers feed the same SQL:

* ``"sql"``: DuckDB ``read_csv`` with one VARCHAR column, a delimiter (0x1F) that is not in the data, no
  quote, no escape, no header, ``strict_mode=false`` (without it the reader refuses the input), gzip by file
  extension. Empty lines come back as NULL rows, so they are counted. Its limits: it also breaks lines at
  "\\r", it drops a UTF-8 byte-order mark at the start of a file, it stops at bytes that are not UTF-8, and it
  cuts a line at the delimiter byte.
* ``"python"``: exact. Python reads each file's bytes (gunzipping ``.gz``), splits on b"\\n", and hands DuckDB
  a table of lines; a line that is not valid UTF-8 becomes NULL and is therefore rejected.

``"auto"`` (the default) first scans the files for "\\r", 0x1F, a leading BOM or invalid UTF-8 and uses
``"sql"`` when none is present (the same answer, faster), ``"python"`` otherwise.

Decisions beyond the spec text: month abbreviations are case-sensitive (``Jan`` .. ``Dec``); ``bytes`` that do
not fit a BIGINT make the line rejected; a line that is not valid UTF-8 is rejected; input files are the
regular files (or links to them) directly in the directory whose name ends in ``.log`` or ``.log.gz``.
"""

from __future__ import annotations

import codecs
import gzip
import hashlib
import os
from pathlib import Path
from typing import Literal

import duckdb
import polars as pl
import pyarrow as pa

SQL_PATH = Path(__file__).with_name("independent_access_logs.sql")
RESULT_NAMES = ("per_file", "hourly", "daily", "top_paths")
SESSION_NAMES = ("sessions", "sessions_daily")
SESSION_STATEMENTS = ("setup_sessions", *SESSION_NAMES)
Reader = Literal["auto", "sql", "python"]

_DELIM = "\x1f"
_MAX_LINE_BYTES = 1 << 27  # 128 MiB; a longer line makes read_csv fail loudly, never silently
_SCAN_CHUNK = 8 << 20


def list_input_files(source_dir: Path | str) -> list[Path]:
    """Every ``*.log`` and ``*.log.gz`` regular file directly in ``source_dir``, sorted by name."""
    out = []
    with os.scandir(source_dir) as entries:
        for entry in entries:
            if (entry.name.endswith(".log") or entry.name.endswith(".log.gz")) and entry.is_file():
                out.append(Path(entry.path).absolute())
    return sorted(out, key=lambda p: p.name)


def _open_bytes(path: Path):
    return gzip.open(path, "rb") if path.name.endswith(".gz") else open(path, "rb")


def read_csv_unsafe_reason(path: Path) -> str | None:
    """Why DuckDB's read_csv would not return this file's lines exactly, or None if it would."""
    decoder = codecs.getincrementaldecoder("utf-8")("strict")
    first = True
    with _open_bytes(path) as fh:
        while chunk := fh.read(_SCAN_CHUNK):
            if first and chunk.startswith(codecs.BOM_UTF8):
                return "starts with a UTF-8 byte-order mark"
            first = False
            if b"\r" in chunk:
                return "contains a carriage return"
            if _DELIM.encode() in chunk:
                return "contains byte 0x1F"
            try:
                decoder.decode(chunk)
            except UnicodeDecodeError:
                return "is not valid UTF-8"
        try:
            decoder.decode(b"", final=True)
        except UnicodeDecodeError:
            return "is not valid UTF-8"
    return None


def split_lines(data: bytes) -> list[bytes]:
    """Lines of a file's content: split on b"\\n"; the final "\\n" does not start another line."""
    if not data:
        return []
    lines = data.split(b"\n")
    if lines[-1] == b"":
        lines.pop()
    return lines


def _decode_or_none(raw: bytes) -> str | None:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return None


def _sql_literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def stream_id(path: Path) -> str:
    """A log stream's id: the first 32 hex digits of the SHA-256 of its first line, newline included."""
    with _open_bytes(path) as fh:
        return hashlib.sha256(fh.readline()).hexdigest()[:32]


def _files_relation(files: list[Path]) -> str:
    if not files:
        return "(SELECT NULL::VARCHAR AS path, NULL::VARCHAR AS name, NULL::VARCHAR AS stream_id WHERE false)"
    rows = ", ".join(f"({_sql_literal(str(p))}, {_sql_literal(p.name)}, {_sql_literal(stream_id(p))})" for p in files)
    return f"(SELECT * FROM (VALUES {rows}) AS t(path, name, stream_id))"


def read_csv_relation(files: list[Path]) -> str:
    """The ``{source}`` relation for the "sql" reader: DuckDB read_csv, one VARCHAR column per line."""
    if not files:
        return "(SELECT NULL::VARCHAR AS path, NULL::VARCHAR AS line, NULL::BIGINT AS line_number WHERE false)"
    paths = ", ".join(_sql_literal(str(p)) for p in files)
    # row_number() over () numbers the rows in scan order, which DuckDB keeps (preserve_insertion_order): lines
    # only need numbers that order them within their file, for the sessions' tie-break.
    return (
        "(SELECT filename AS path, line, row_number() OVER () AS line_number FROM read_csv("
        f"[{paths}], columns = {{'line': 'VARCHAR'}}, delim = chr(31), quote = '', escape = '', "
        "header = false, auto_detect = false, strict_mode = false, new_line = '\\n', "
        f"compression = 'auto', max_line_size = {_MAX_LINE_BYTES}, filename = true))"
    )


def _python_lines_table(files: list[Path]) -> pa.Table:
    paths: list[str] = []
    lines: list[str | None] = []
    for p in files:
        with _open_bytes(p) as fh:
            raw_lines = split_lines(fh.read())
        paths.extend([str(p)] * len(raw_lines))
        lines.extend(_decode_or_none(raw) for raw in raw_lines)
    return pa.table(
        {
            "path": pa.array(paths, pa.string()),
            "line": pa.array(lines, pa.string()),
            "line_number": pa.array(range(1, len(lines) + 1), pa.int64()),
        }
    )


def load_statements() -> list[tuple[str, str]]:
    """(name, sql) pairs of the SQL file, in order."""
    text = SQL_PATH.read_text(encoding="utf-8")
    parts = text.split("-- @statement ")[1:]
    out = []
    for part in parts:
        name, _, body = part.partition("\n")
        out.append((name.strip(), body.strip().rstrip(";")))
    return out


def choose_reader(files: list[Path]) -> tuple[Reader, str | None]:
    """("sql", None) when read_csv reads every file exactly, else ("python", "<file> <reason>")."""
    for p in files:
        reason = read_csv_unsafe_reason(p)
        if reason is not None:
            return "python", f"{p.name} {reason}"
    return "sql", None


def compute_expected(
    source_dir: Path | str,
    *,
    reader: Reader = "auto",
    con: duckdb.DuckDBPyConnection | None = None,
    sessions: bool = False,
    session_gap_minutes: int = 30,
) -> dict[str, pl.DataFrame]:
    """The marts the pipeline must produce from the ``*.log``/``*.log.gz`` files directly in source_dir.

    Returns polars frames:
      per_file:  file (name), lines, well_formed, rejected — one row per input file, sorted by file
      hourly:    hour (UTC, naive TIMESTAMP), requests, bytes, status_4xx, status_5xx — sorted by hour
      daily:     day (DATE), requests, distinct_clients — sorted by day
      top_paths: day, rank (INTEGER, 1..10), path, requests — sorted by day, rank
    and with ``sessions``, cut with ``session_gap_minutes``:
      sessions:  the columns of logs.sessions but gap_minutes — sorted by client, user_agent, start_utc
      sessions_daily: the columns of logs.sessions_daily — sorted by day
    """
    files = list_input_files(source_dir)
    if reader == "auto":
        reader, _ = choose_reader(files)
    own = con is None
    con = duckdb.connect() if con is None else con
    try:
        if reader == "sql":
            source = read_csv_relation(files)
        elif reader == "python":
            con.register("ref_python_lines", _python_lines_table(files))
            source = "ref_python_lines"
        else:
            raise ValueError(f"unknown reader {reader!r}")
        results: dict[str, pl.DataFrame] = {}
        for name, sql in load_statements():
            if name in SESSION_STATEMENTS and not sessions:
                continue
            sql = sql.replace("{files}", _files_relation(files)).replace("{source}", source)
            sql = sql.replace("{session_gap_minutes}", str(int(session_gap_minutes)))
            if name in RESULT_NAMES + SESSION_NAMES:
                results[name] = con.sql(sql).pl()
            else:
                con.execute(sql)
        con.execute("DROP TABLE IF EXISTS ref_sessions")
        con.execute("DROP TABLE IF EXISTS ref_lines")
        con.execute("DROP TABLE IF EXISTS ref_files")
        if reader == "python":
            con.unregister("ref_python_lines")
        return results
    finally:
        if own:
            con.close()


if __name__ == "__main__":
    import sys

    with pl.Config(tbl_rows=50, tbl_cols=10, fmt_str_lengths=60):
        for key, frame in compute_expected(sys.argv[1] if len(sys.argv) > 1 else ".").items():
            print(key)
            print(frame)
