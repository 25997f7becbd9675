"""Reading tabular export files (CSV, optionally gzipped, and Parquet) as chunks of records, in bounded memory.

Every chunk is a frame of text: `line_number` (where the record starts: the file's line for CSV, with the header
as line 1; the row number for Parquet), `raw` (the record as in the file; a JSON object for Parquet),
`record_problem` (why the record cannot be split into fields, else null) and one column per header field, named by
the header trimmed and lower-cased. Values are text as written: typing them is validation's job, so that a bad
value becomes a reject with a reason instead of a reader error.
"""

import io
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq

from tasks.core.batches import day_in_name
from tasks.core.reading import BatchDataError, LineChunk, read_line_chunks
from tasks.core.settings import MAX_LINE_BYTES

RECORD_PROBLEM = "record_problem"
# A quoted field may hold newlines, so a record can span lines; one whose quote stays open this long is taken to be
# a stray quote: its first line is rejected and reading resumes on the next line, which keeps memory bounded.
MAX_LINES_PER_RECORD = 1000
_BOM = "\ufeff"
# RFC 4180's record: fields between commas, each bare (no quote in it) or quoted whole (a quote inside doubled).
_FIELD = r'(?:[^",]*|"(?:[^"]|"")*")'
_WELL_QUOTED = rf"^{_FIELD}(?:,{_FIELD})*$"
_MISQUOTED = "a quote is misplaced: a field with a quote in it must be quoted whole, its quotes doubled"


def read_export_records(path: Path, chunk_bytes: int) -> Iterator[LineChunk]:
    """The records of a CSV (.csv, .csv.gz) or Parquet file, in chunks of about `chunk_bytes`, each with the
    file's export date (the day in its name) as column `export_date`. A name without a day is a BatchDataError."""
    export_date = export_date_of(path)
    read = read_parquet_records if path.name.endswith(".parquet") else read_csv_records
    for chunk in read(path, chunk_bytes):
        dated = chunk.lines.with_columns(pl.lit(export_date).alias("export_date"))
        yield LineChunk(dated, chunk.bytes_read, chunk.stored_position, chunk.overlong)


def export_date_of(path: Path) -> date:
    export_date = day_in_name(path)
    if export_date is None:
        raise BatchDataError(f"{path.name} carries no export date (YYYY-MM-DD or YYYYMMDD) in its name")
    return export_date


def read_csv_records(path: Path, chunk_bytes: int) -> Iterator[LineChunk]:
    """RFC 4180 records of a CSV file with a header line: quoted fields may hold separators, doubled quotes and
    newlines; CRLF line ends and a leading BOM are accepted."""
    header: list[str] | None = None
    pending = _empty_lines()

    def split_plain_block(text: bytes, first_line_number: int) -> pl.DataFrame | None:
        """The block's records, split by Polars' CSV reader in one pass, when nothing in it needs the line-by-line
        path (see _plain_records); else None. The header, when the block starts the file, is taken from it."""
        nonlocal header
        if pending.height:  # a record opened by the block before goes on in this one
            return None
        names = header
        if first_line_number == 1:
            end = text.find(b"\n")
            # as _without_line_ends reads it: without a BOM or the CR of a CRLF; a header too long is rejected as before
            line = text[:end].removeprefix(_BOM.encode()).removesuffix(b"\r")
            names = _plain_header(line) if end <= MAX_LINE_BYTES else None
            text, first_line_number = text[end + 1 :], 2
        if names is None:
            return None
        records = _plain_records(text, first_line_number, _unique_names(names))
        if records is not None:
            header = names
        return records

    for chunk in read_line_chunks(path, chunk_bytes, split_block=split_plain_block):
        if RECORD_PROBLEM in chunk.lines.columns:  # split by split_plain_block
            yield chunk
            continue
        if header is None and 1 in chunk.overlong.get_column("line_number"):
            raise BatchDataError(f"{path.name}: the header line is too long ({chunk.overlong.item(0, 'reason')})")
        lines = pl.concat([pending, _without_line_ends(chunk.lines)])
        records, pending = _assemble_records(lines)
        if header is None and records.height:
            header = _header_of(records.row(0, named=True)["raw"])
            records = records.slice(1)
        if header is not None:
            yield LineChunk(_split_fields(records, header), chunk.bytes_read, chunk.stored_position, chunk.overlong)
    if pending.height:  # the file ends inside a quoted field
        records = _unterminated(pending)
        if header is None:
            raise BatchDataError(f"{path.name}: the header line opens a quote that is never closed")
        yield LineChunk(_split_fields(records, header), 0, path.stat().st_size)
    if header is None:
        raise BatchDataError(f"{path.name} is empty: it has no header line")


def _plain_header(line: bytes) -> list[str] | None:
    """The names of a header line (its BOM and line end taken off) that _header_of would read alike without its CSV
    rules (no quote, CR or BOM, not blank, UTF-8); else None."""
    if b'"' in line or b"\r" in line or line.startswith(_BOM.encode()) or not line.strip():
        return None
    try:
        return [name.strip().lower() for name in line.decode("utf-8").split(",")]
    except UnicodeDecodeError:
        return None


def _plain_records(text: bytes, first_line_number: int, columns: list[str]) -> pl.DataFrame | None:
    """The records of newline-ended `text` as _split_fields gives them, when every line is a well-formed record
    without a quote: Polars' CSV reader splits them in one pass, and `raw` is rebuilt from the fields, which without
    quotes is exactly the line (the reader takes off a CRLF's CR, as _without_line_ends does). None when any line
    needs the line-by-line path: a quote (a record may span lines, or be misquoted), a CR other than a line end's, a
    NUL, a line with another number of fields than the header (a blank line has one), text that is not UTF-8. A
    block that starts with a BOM is left alone too (only a file's start may carry one)."""
    if len(columns) < 2 or b'"' in text or b"\x00" in text or text.startswith(_BOM.encode()):
        return None  # with one column a blank line would be a record: the line-by-line path tells them apart
    if b"\r" in text and text.count(b"\r") != text.count(b"\r\n"):
        return None
    line_count = text.count(b"\n")
    # The reader fails on a line with more fields than the header and fills a shorter one with nulls: with the
    # commas adding up, every line has exactly the header's number of fields.
    if text.count(b",") != line_count * (len(columns) - 1):
        return None
    try:
        values = pl.read_csv(
            text,
            has_header=False,
            new_columns=columns,
            schema=dict.fromkeys(columns, pl.String),
            quote_char=None,
            comment_prefix=None,
            raise_if_empty=False,
            truncate_ragged_lines=False,
        )
    except pl.exceptions.PolarsError:
        return None
    if values.height != line_count:
        return None
    raw = pl.concat_str([pl.col(column).fill_null("") for column in columns], separator=",")
    return values.select(
        pl.int_range(first_line_number, first_line_number + line_count, dtype=pl.Int64).alias("line_number"),
        raw.alias("raw"),
        pl.lit(None, pl.String).alias(RECORD_PROBLEM),
        *columns,
    )


def _empty_lines() -> pl.DataFrame:
    return pl.DataFrame(schema={"line_number": pl.Int64, "raw": pl.String})


def _without_line_ends(lines: pl.DataFrame) -> pl.DataFrame:
    raw = pl.col("raw").str.strip_suffix("\r")
    if not lines.height or lines.item(0, "line_number") != 1:  # only a file's first line may start with a BOM
        return lines.with_columns(raw)
    first_line = pl.col("line_number") == 1
    return lines.with_columns(pl.when(first_line).then(raw.str.strip_prefix(_BOM)).otherwise(raw).alias("raw"))


def _assemble_records(lines: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Join the lines of multi-line records: a record ends at the first line where its quotes are balanced. Returns
    the complete records (`line_number` of their first line, `raw` joined by newlines) and the lines of the last,
    unfinished one, to be continued by the next chunk."""
    open_after = pl.col("raw").str.count_matches('"', literal=True).cum_sum() % 2 == 1
    marked = lines.with_columns(open_after.alias("open_after"))
    ends = marked.get_column("open_after").not_()
    if ends.all():  # no record spans lines: the common case, kept cheap
        return lines, _empty_lines()
    last_end = ends.arg_true().max() if ends.any() else -1
    complete, pending = marked.slice(0, last_end + 1), marked.slice(last_end + 1).drop("open_after")
    records = (
        complete.with_columns(pl.col("open_after").not_().cum_sum().shift(1, fill_value=0).alias("record"))
        .group_by("record", maintain_order=True)
        .agg(pl.col("line_number").first(), pl.col("raw").str.join("\n"))
        .drop("record")
    )
    if pending.height > MAX_LINES_PER_RECORD:
        stray = pending.slice(0, 1).with_columns(
            pl.lit(f"a quote opened on this line is not closed within {MAX_LINES_PER_RECORD} lines").alias(
                RECORD_PROBLEM
            )
        )
        rest, pending = _assemble_records(pending.slice(1))
        records = pl.concat([records, stray, rest], how="diagonal")
    return records, pending


def _unterminated(lines: pl.DataFrame) -> pl.DataFrame:
    joined = lines.select(pl.col("line_number").first(), pl.col("raw").str.join("\n"))
    return joined.with_columns(pl.lit("a quoted field is not closed before the end of the file").alias(RECORD_PROBLEM))


def _header_of(raw: str) -> list[str]:
    if not pl.Series([raw]).str.contains(_WELL_QUOTED).item():
        raise BatchDataError(f"the header line is not CSV: {_MISQUOTED}")
    names = _parse_csv_text(raw + "\n", None).row(0)
    return [(name or "").strip().lower() for name in names]


def _split_fields(records: pl.DataFrame, header: list[str]) -> pl.DataFrame:
    """One text column per header field for every well-formed record; the others get a `record_problem`."""
    if RECORD_PROBLEM not in records.columns:
        records = records.with_columns(pl.lit(None, pl.String).alias(RECORD_PROBLEM))
    raw = pl.col("raw")
    # A record without a quote is well quoted and has its commas plus one fields: in a chunk without any quote (the
    # common case) the two regular expressions over every record are not needed.
    quoted = records.get_column("raw").str.contains('"', literal=True).any()
    unquoted = raw.str.replace_all(r'"(?:[^"]|"")*"', "") if quoted else raw
    fields = unquoted.str.count_matches(",", literal=True) + 1
    problem = (
        pl.when(pl.col(RECORD_PROBLEM).is_not_null())
        .then(pl.col(RECORD_PROBLEM))
        .when(raw.str.strip_chars() == "")
        .then(pl.lit("blank line"))
        .when(raw.str.contains(_WELL_QUOTED).not_() if quoted else pl.lit(False))
        .then(pl.lit(_MISQUOTED))
        .when(fields != len(header))
        .then(pl.format("has {} fields, the header has {}", fields, pl.lit(len(header))))
    )
    records = records.with_columns(problem.alias(RECORD_PROBLEM))
    well_formed = records.filter(pl.col(RECORD_PROBLEM).is_null())
    columns = _unique_names(header)
    values = pl.DataFrame(schema=dict.fromkeys(columns, pl.String))
    if well_formed.height:
        values = _parse_csv_text(_as_csv_text(well_formed), columns)
    if values.height != well_formed.height:
        raise BatchDataError(f"CSV records were split into {values.height} rows, expected {well_formed.height}")
    split = well_formed.hstack(values)
    malformed = records.filter(pl.col(RECORD_PROBLEM).is_not_null())
    if malformed.height:
        split = pl.concat([split, malformed], how="diagonal_relaxed").sort("line_number")
    return split.with_columns(pl.col(name).cast(pl.String) for name in columns)


def _as_csv_text(records: pl.DataFrame) -> bytes:
    """The records' raw text, each ended by a newline: written by Polars, without a Python string per record."""
    text = io.BytesIO()
    records.select("raw").write_csv(text, include_header=False, quote_style="never")
    return text.getvalue()


# Columns the records carry besides the fields: a field of the same name is renamed, and so reported as unexpected.
_RESERVED = ("line_number", "raw", RECORD_PROBLEM, "export_date")


def _unique_names(header: list[str]) -> list[str]:
    """The header's names, a repeated (or reserved) one suffixed so that validation reports it as unexpected."""
    seen: dict[str, int] = dict.fromkeys(_RESERVED, 1)
    names = []
    for name in header:
        seen[name] = seen.get(name, 0) + 1
        names.append(name if seen[name] == 1 else f"{name} (repeated {seen[name]})")
    return names


def _parse_csv_text(text: str | bytes, columns: list[str] | None) -> pl.DataFrame:
    frame = pl.read_csv(
        text.encode() if isinstance(text, str) else text,
        has_header=False,
        infer_schema=False,
        quote_char='"',
        comment_prefix=None,
        raise_if_empty=False,
        truncate_ragged_lines=False,
    )
    return frame if columns is None else frame.rename(dict(zip(frame.columns, columns, strict=True)))


def read_parquet_records(path: Path, chunk_bytes: int) -> Iterator[LineChunk]:
    """The rows of a Parquet file as text columns, about `chunk_bytes` of uncompressed data at a time."""
    try:
        parquet = pq.ParquetFile(path)
        metadata = parquet.metadata
        uncompressed = sum(metadata.row_group(group).total_byte_size for group in range(metadata.num_row_groups))
        rows_per_chunk = max(1, int(chunk_bytes / max(uncompressed / max(metadata.num_rows, 1), 1)))
        first_row = 1
        for record_batch in parquet.iter_batches(batch_size=rows_per_chunk):
            frame = _as_text(pl.from_arrow(record_batch))
            names = [name.strip().lower() for name in frame.columns]
            frame = frame.rename(dict(zip(frame.columns, _unique_names(names), strict=True)))
            lines = frame.with_columns(
                pl.int_range(first_row, first_row + frame.height, dtype=pl.Int64).alias("line_number"),
                pl.struct(pl.all()).struct.json_encode().alias("raw"),
                pl.lit(None, pl.String).alias(RECORD_PROBLEM),
            )
            first_row += frame.height
            yield LineChunk(lines=lines, bytes_read=record_batch.nbytes, stored_position=path.stat().st_size)
    except (pa.ArrowInvalid, OSError) as error:
        raise BatchDataError(f"{path.name} is not a readable Parquet file ({error})") from error


def _as_text(frame: pl.DataFrame) -> pl.DataFrame:
    """Every column as text: instants in ISO 8601 with their offset, so that they validate like CSV text."""
    columns = []
    for name, dtype in frame.schema.items():
        column = pl.col(name)
        if isinstance(dtype, pl.Datetime) and dtype.time_zone:
            column = column.dt.to_string("%Y-%m-%dT%H:%M:%S%.f%:z")
        elif isinstance(dtype, pl.Datetime):
            column = column.dt.to_string("%Y-%m-%dT%H:%M:%S%.f")
        columns.append(column.cast(pl.String).alias(name))
    return frame.select(columns)
