"""Reading files as chunks of numbered lines (tasks/core/reading.py).

Lines end at "\\n" only; a final "\\n" does not start another line; empty lines are lines; CRs, a BOM and any
other character stay in the line. The expected lines are the lists the files are written from.
"""

import gzip
import random
import re
from pathlib import Path

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal

from tasks.core.reading import EXCERPT_BYTES, BatchDataError, LineChunk, read_line_chunks

BIG = 1 << 20
CHUNK_SIZES = [1, 2, 7, 64, BIG]
CHUNK_IDS = ["1 byte", "2 bytes", "7 bytes", "64 bytes", "1 MiB"]


def read_all(path: Path, chunk_bytes: int) -> tuple[pl.DataFrame | None, list[LineChunk]]:
    """Every line of `path` as one frame, and the chunks it came in."""
    chunks = list(read_line_chunks(path, chunk_bytes))
    lines = pl.concat([chunk.lines for chunk in chunks]) if chunks else None
    return lines, chunks


def expected_lines(lines: list[str], first_line_number: int = 1) -> pl.DataFrame:
    return pl.DataFrame(
        {"line_number": range(first_line_number, first_line_number + len(lines)), "raw": lines},
        schema={"line_number": pl.Int64, "raw": pl.String},
    )


def write(path: Path, data: bytes) -> Path:
    if path.name.endswith(".gz"):
        path.write_bytes(gzip.compress(data, mtime=0))
    else:
        path.write_bytes(data)
    return path


def check_chunks(chunks: list[LineChunk], total_bytes: int | None) -> None:
    """Chunks are non-empty, numbered on from each other, and (for a plain file) account for every byte."""
    next_number = 1
    for chunk in chunks:
        assert chunk.lines.height > 0
        assert chunk.lines.get_column("line_number").to_list() == list(
            range(next_number, next_number + chunk.lines.height)
        )
        next_number += chunk.lines.height
    if total_bytes is not None:
        assert sum(chunk.bytes_read for chunk in chunks) == total_bytes


# Lines without CR, BOM or 0x1F (the fast path can be used), including empty lines at the start, middle and end,
# multi-byte UTF-8 that tiny chunks cut in the middle, and lines longer than the small chunk sizes.
PLAIN = [
    "",
    "",
    "first text line",
    '192.0.2.1 - - [10/Oct/2026:13:55:36 +0000] "GET / HTTP/1.1" 200 512 "-" "Mozilla/5.0"',
    "",
    "   ",
    "\ttab-indented",
    'a "quoted" field, with, commas; and # hash',
    '"',
    '"unterminated quote',
    "back\\slash \\n",
    "Café 日本語 🚀 ünïcödé",
    "x" * 300,
    "NA",
    "null",
    "",
    "last",
    "",
]
# Lines with the characters that make the reader take its exact path: CR (alone, at the end, twice),
# a BOM at the start of the file and at the start of a later line, 0x1F.
SPECIAL = [
    "\ufeffbom at the start of the file",
    "crlf line\r",
    "",
    "\r",
    "cr\rin the middle",
    "unit\x1fseparator",
    "\x1f",
    "\ufeffbom at the start of line 8",
    "two crs\r\r",
    "y" * 100,
    "é\r",
]
CONTENTS = {"plain": PLAIN, "special": SPECIAL, "both": PLAIN + SPECIAL + PLAIN}


@pytest.mark.parametrize("chunk_bytes", CHUNK_SIZES, ids=CHUNK_IDS)
@pytest.mark.parametrize("content", CONTENTS, ids=list(CONTENTS))
@pytest.mark.parametrize("name", ["lines.log", "lines.log.gz"], ids=["plain file", "gzip"])
def test_any_chunk_size_gives_the_same_numbered_lines(tmp_path, name, content, chunk_bytes):
    data = "".join(line + "\n" for line in CONTENTS[content]).encode()
    path = write(tmp_path / name, data)

    lines, chunks = read_all(path, chunk_bytes)

    assert_frame_equal(lines, expected_lines(CONTENTS[content]))
    check_chunks(chunks, None if name.endswith(".gz") else len(data))


def test_big_chunk_reads_the_whole_file_at_once(tmp_path):
    data = "".join(line + "\n" for line in PLAIN).encode()
    path = write(tmp_path / "lines.log", data)

    chunks = list(read_line_chunks(path, BIG))

    assert len(chunks) == 1
    assert chunks[0].bytes_read == len(data)


def test_many_lines_in_small_chunks(tmp_path):
    lines = [f"line {number}" + "." * (number % 13) for number in range(1, 2001)]
    path = write(tmp_path / "many.log", "".join(line + "\n" for line in lines).encode())

    read, chunks = read_all(path, 1000)

    assert len(chunks) > 10
    assert_frame_equal(read, expected_lines(lines))


@pytest.mark.parametrize(
    ("data", "lines"),
    [
        (b"a\nb", ["a", "b"]),
        (b"only line", ["only line"]),
        (b"a\n\nb", ["a", "", "b"]),
        (b"a\r\nb\r", ["a\r", "b\r"]),
        ("x\né".encode(), ["x", "é"]),
    ],
    ids=["two lines", "one line", "empty line in between", "CRs", "multi-byte last character"],
)
@pytest.mark.parametrize("chunk_bytes", CHUNK_SIZES, ids=CHUNK_IDS)
def test_file_without_final_newline(tmp_path, data, lines, chunk_bytes):
    path = write(tmp_path / "no-final-newline.log", data)

    read, _ = read_all(path, chunk_bytes)

    assert_frame_equal(read, expected_lines(lines))


@pytest.mark.parametrize("name", ["empty.log", "empty.log.gz"], ids=["plain file", "gzip"])
def test_empty_file_gives_no_chunks(tmp_path, name):
    path = write(tmp_path / name, b"")

    assert list(read_line_chunks(path, 64)) == []


@pytest.mark.parametrize(
    ("data", "count"),
    [(b"\n", 1), (b"\n\n", 2), (b"\n" * 5, 5), (b"\n" * 200, 200)],
    ids=["one", "two", "five", "two hundred"],
)
@pytest.mark.parametrize("chunk_bytes", CHUNK_SIZES, ids=CHUNK_IDS)
def test_only_newlines_are_empty_lines(tmp_path, data, count, chunk_bytes):
    path = write(tmp_path / "newlines.log", data)

    read, chunks = read_all(path, chunk_bytes)

    assert_frame_equal(read, expected_lines([""] * count))
    check_chunks(chunks, len(data))


@pytest.mark.parametrize("chunk_bytes", [1, 7, 64], ids=["1 byte", "7 bytes", "64 bytes"])
def test_line_longer_than_a_chunk(tmp_path, chunk_bytes):
    lines = ["short", "z" * 5000, "", "w" * 65, "end"]
    data = "".join(line + "\n" for line in lines).encode()
    path = write(tmp_path / "long.log", data)

    read, chunks = read_all(path, chunk_bytes)

    assert_frame_equal(read, expected_lines(lines))
    check_chunks(chunks, len(data))


@pytest.mark.parametrize(
    ("data", "lines"),
    [
        (b"GET /a\r\nGET /b\r\n", ["GET /a\r", "GET /b\r"]),
        (b"\r\n\r\n", ["\r", "\r"]),
        (b"a\rb\rc\n", ["a\rb\rc"]),
        ("\ufeffFirst line\nsecond\n".encode(), ["\ufeffFirst line", "second"]),
        ("\ufeff\n".encode(), ["\ufeff"]),
        ("\ufeff\r\nx\r\n".encode(), ["\ufeff\r", "x\r"]),
        (b"a\x1fb\nc\n", ["a\x1fb", "c"]),
        (b"\x1f\n\x1f\x1f\n", ["\x1f", "\x1f\x1f"]),
        ("a\n\ufeffb\nc\ufeffd\n".encode(), ["a", "\ufeffb", "c\ufeffd"]),
        (b"a\x0bb\x0cc\n", ["a\x0bb\x0cc"]),
        ("a\u2028b\u0085c\u2029\n".encode(), ["a\u2028b\u0085c\u2029"]),
    ],
    ids=[
        "CRLF lines keep the CR",
        "CRLF-only lines",
        "lone CRs do not end lines",
        "BOM at the start is kept",
        "only a BOM",
        "BOM and CRLF",
        "0x1F in a line",
        "lines of 0x1F only",
        "BOM later in the file is kept",
        "vertical tab and form feed do not end lines",
        "Unicode line separators do not end lines",
    ],
)
@pytest.mark.parametrize("chunk_bytes", [1, 7, BIG], ids=["1 byte", "7 bytes", "1 MiB"])
def test_characters_are_kept_as_they_are(tmp_path, data, lines, chunk_bytes):
    path = write(tmp_path / "chars.log", data)

    read, _ = read_all(path, chunk_bytes)

    assert_frame_equal(read, expected_lines(lines))


@settings(max_examples=200, deadline=None)
@given(
    lines=st.lists(
        st.one_of(
            st.text(alphabet="ab é\t", max_size=12),
            st.sampled_from(["\r", "x\r", "\r\r", "a\rb", "\rq\r", "é\r", ""]),
        ),
        min_size=1,
        max_size=80,
    ),
    chunk_bytes=st.sampled_from([7, 64, BIG]),
)
def test_a_few_crlf_lines_among_many_keep_their_cr(tmp_path_factory, lines, chunk_bytes):
    """Few CRs among many lines: the CSV reader splits them and the CR it ate before each LF is put back."""
    lines = [f"plain line {number}" for number in range(len(lines) * 9)] + lines
    random.Random(len(lines)).shuffle(lines)
    path = write(tmp_path_factory.mktemp("crlf") / "few-crs.log", "".join(line + "\n" for line in lines).encode())

    read, _ = read_all(path, chunk_bytes)

    assert_frame_equal(read, expected_lines(lines))


def test_concatenated_gzip_members_are_one_file(tmp_path):
    path = tmp_path / "members.log.gz"
    path.write_bytes(gzip.compress(b"one\ntwo\n", mtime=0) + gzip.compress(b"three\n", mtime=0))

    read, _ = read_all(path, 3)

    assert_frame_equal(read, expected_lines(["one", "two", "three"]))


def gzip_of_lines(count: int = 400) -> bytes:
    # Varied enough that the compressed stream is long, so that cutting it in half loses deflate data.
    rng = random.Random(7)
    text = "".join(f"line {number} {rng.getrandbits(64):x}\n" for number in range(count))
    return gzip.compress(text.encode(), mtime=0)


@pytest.mark.parametrize(
    "cut",
    [lambda data: data[: len(data) // 2], lambda data: data[:-4], lambda data: data[:-1], lambda data: data[:5]],
    ids=["half the stream", "without the size trailer", "last byte missing", "header only"],
)
@pytest.mark.parametrize("chunk_bytes", [64, BIG], ids=["64 bytes", "1 MiB"])
def test_truncated_gzip_is_a_data_error(tmp_path, cut, chunk_bytes):
    path = tmp_path / "truncated.log.gz"
    path.write_bytes(cut(gzip_of_lines()))

    with pytest.raises(BatchDataError):
        list(read_line_chunks(path, chunk_bytes))


def test_random_bytes_named_gz_is_a_data_error(tmp_path):
    data = random.Random(11).randbytes(4096)
    assert data[:2] != b"\x1f\x8b"
    path = tmp_path / "random.log.gz"
    path.write_bytes(data)

    with pytest.raises(BatchDataError):
        list(read_line_chunks(path, 64))


def flip_body_bytes(data: bytearray) -> None:
    for position in range(20, len(data) - 8, 97):
        data[position] ^= 0xFF


def flip_crc(data: bytearray) -> None:
    data[-8] ^= 0x01


def flip_size(data: bytearray) -> None:
    data[-4] ^= 0x01


@pytest.mark.parametrize(
    "corrupt", [flip_body_bytes, flip_crc, flip_size], ids=["deflate data", "CRC trailer", "size trailer"]
)
def test_corrupt_gzip_is_a_data_error(tmp_path, corrupt):
    data = bytearray(gzip_of_lines())
    corrupt(data)
    path = tmp_path / "corrupt.log.gz"
    path.write_bytes(bytes(data))

    with pytest.raises(BatchDataError):
        list(read_line_chunks(path, BIG))


def test_plain_file_that_is_gzip_inside_is_a_data_error(tmp_path):
    # Not decompressed without the .gz name, so its bytes are read as text: not UTF-8 (or NUL bytes).
    path = tmp_path / "compressed.log"
    path.write_bytes(gzip_of_lines())

    with pytest.raises(BatchDataError):
        list(read_line_chunks(path, BIG))


@pytest.mark.parametrize(
    "bad_line",
    [b"bad \xff byte", b"\xc3", b"lone continuation \x80", b"overlong \xc0\xaf", b"surrogate \xed\xa0\x80"],
    ids=["0xFF", "truncated 2-byte sequence", "lone continuation byte", "overlong encoding", "UTF-16 surrogate"],
)
@pytest.mark.parametrize("chunk_bytes", [1, 7, 20, BIG], ids=["1 byte", "7 bytes", "20 bytes", "1 MiB"])
@pytest.mark.parametrize("name", ["text.log", "text.log.gz"], ids=["plain file", "gzip"])
def test_invalid_utf8_names_the_line(tmp_path, name, chunk_bytes, bad_line):
    path = write(tmp_path / name, b"line one\nline two\n" + bad_line + b"\nline four\nline five\n")

    with pytest.raises(BatchDataError, match=r"\bline 3\b"):
        list(read_line_chunks(path, chunk_bytes))


@pytest.mark.parametrize("chunk_bytes", [1, 7, BIG], ids=["1 byte", "7 bytes", "1 MiB"])
def test_invalid_utf8_in_a_last_line_without_newline_names_the_line(tmp_path, chunk_bytes):
    path = write(tmp_path / "text.log", b"one\ntwo\n\xe2\x82")  # the first two bytes of the euro sign

    with pytest.raises(BatchDataError, match=r"\bline 3\b"):
        list(read_line_chunks(path, chunk_bytes))


@pytest.mark.parametrize(
    ("data", "line"),
    [(b"a\nb\x00c\nd\n", 2), (b"\x00\n", 1), (b"a\nb\nno newline after \x00", 3)],
    ids=["inside a line", "alone on the first line", "in a last line without newline"],
)
@pytest.mark.parametrize("chunk_bytes", [1, BIG], ids=["1 byte", "1 MiB"])
@pytest.mark.parametrize("name", ["binary.log", "binary.log.gz"], ids=["plain file", "gzip"])
def test_nul_byte_is_a_data_error_naming_its_line_in_no_pipeline_s_words(tmp_path, name, chunk_bytes, data, line):
    path = write(tmp_path / name, data)

    with pytest.raises(BatchDataError, match=rf"^line {line} holds a NUL byte: this is a binary file, not text$"):
        list(read_line_chunks(path, chunk_bytes))


@pytest.mark.parametrize("chunk_bytes", [0, -1], ids=["zero", "negative"])
def test_a_chunk_size_below_one_byte_is_refused_rather_than_reading_nothing(tmp_path, chunk_bytes):
    path = tmp_path / "a.log"
    path.write_bytes(b"a line\n")

    with pytest.raises(ValueError, match="chunk_bytes must be at least 1"):
        list(read_line_chunks(path, chunk_bytes))


@pytest.mark.parametrize("name", ["range.log", "range.log.gz"])
def test_an_exact_range_reads_its_bytes_as_lines_numbered_from_its_first_line(tmp_path, name):
    text = b"one\ntwo\nthree\nfour\n"
    path = tmp_path / name
    path.write_bytes(gzip.compress(text) if name.endswith(".gz") else text)
    start = text.index(b"wo")  # mid-line: the bytes as they are, not the lines that begin in the range

    chunks = list(read_line_chunks(path, 5, start, text.index(b"four"), first_line_number=7, exact_range=True))

    lines = pl.concat([chunk.lines for chunk in chunks])
    assert lines.rows() == [(7, "wo"), (8, "three")]
    assert sum(chunk.bytes_read for chunk in chunks) == text.index(b"four") - start


def read_with_limit(path: Path, chunk_bytes: int, max_line_bytes: int) -> tuple[list[tuple], list[tuple], int]:
    chunks = list(read_line_chunks(path, chunk_bytes, max_line_bytes=max_line_bytes))
    lines = [row for chunk in chunks for row in chunk.lines.rows()]
    overlong = [row for chunk in chunks for row in chunk.overlong.rows()]
    return lines, overlong, sum(chunk.bytes_read for chunk in chunks)


@pytest.mark.parametrize("chunk_bytes", [7, 64, 1 << 20], ids=["line-spans-chunks", "mixed", "one-chunk"])
@pytest.mark.parametrize("ending", [b"\n", b""], ids=["newline-at-end", "no-newline-at-end"])
def test_a_line_over_the_limit_is_one_reject_with_its_start_and_the_lines_around_it_keep_their_numbers(
    tmp_path, chunk_bytes, ending
):
    long_line = b"x" * 150
    text = b"one\n" + long_line + b"\nthree\n" + long_line + ending
    path = tmp_path / "long.log"
    path.write_bytes(text)

    lines, overlong, bytes_read = read_with_limit(path, chunk_bytes, max_line_bytes=100)

    assert lines == [(1, "one"), (3, "three")]
    reason = "the line is longer than 100 bytes (150 bytes): only its start is kept"
    assert overlong == [(2, "x" * 150, reason), (4, "x" * 150, reason)]
    assert bytes_read == len(text)


def test_an_overlong_line_keeps_only_its_first_bytes(tmp_path):
    path = tmp_path / "long.log.gz"
    path.write_bytes(gzip.compress(b"y" * 5000))

    lines, overlong, bytes_read = read_with_limit(path, 512, max_line_bytes=1000)

    assert (lines, bytes_read) == ([], 5000)
    assert overlong == [(1, "y" * 200, "the line is longer than 1000 bytes (5000 bytes): only its start is kept")]


@settings(max_examples=200, deadline=None)
@given(
    lines=st.lists(st.text(alphabet="ab \t\r", max_size=40), max_size=12),
    final_newline=st.booleans(),
    chunk_bytes=st.integers(min_value=1, max_value=50),
    max_line_bytes=st.integers(min_value=1, max_value=30),
)
def test_every_line_comes_out_once_as_a_line_or_an_overlong_reject(
    tmp_path_factory, lines, final_newline, chunk_bytes, max_line_bytes
):
    text = "\n".join(lines) + ("\n" if final_newline and lines else "")
    path = tmp_path_factory.mktemp("lines") / "any.log"
    path.write_bytes(text.encode())

    read, overlong, bytes_read = read_with_limit(path, chunk_bytes, max_line_bytes)

    expected = text.removesuffix("\n").split("\n") if text else []
    assert read == [(number, line) for number, line in enumerate(expected, 1) if len(line) <= max_line_bytes]
    assert [(number, raw) for number, raw, _ in overlong] == [
        (number, line[:EXCERPT_BYTES]) for number, line in enumerate(expected, 1) if len(line) > max_line_bytes
    ]
    assert bytes_read == len(text)


CUT_AFTER = b" -"


def read_cutting(path: Path, chunk_bytes: int, max_line_bytes: int):
    chunks = list(read_line_chunks(path, chunk_bytes, max_line_bytes=max_line_bytes, cut_after=CUT_AFTER))
    pieces = [row for chunk in chunks for row in chunk.lines.rows()]
    rejects = [row for chunk in chunks for row in chunk.overlong.rows()]
    return pieces, rejects, sum(chunk.lines_ended for chunk in chunks), sum(chunk.bytes_read for chunk in chunks)


@settings(max_examples=300, deadline=None)
@given(
    lines=st.lists(st.text(alphabet="ab -é", max_size=40), max_size=8),
    final_newline=st.booleans(),
    chunk_bytes=st.integers(min_value=1, max_value=50),
    max_line_bytes=st.integers(min_value=1, max_value=12),
)
def test_cut_lines_keep_every_byte_but_the_runs_without_a_cut_byte_longer_than_the_limit(
    tmp_path_factory, lines, final_newline, chunk_bytes, max_line_bytes
):
    text = "\n".join(lines) + ("\n" if final_newline and lines else "")
    path = tmp_path_factory.mktemp("lines") / "any.txt"
    path.write_bytes(text.encode())

    pieces, rejects, lines_ended, bytes_read = read_cutting(path, chunk_bytes, max_line_bytes)

    expected = text.removesuffix("\n").split("\n") if text else []
    kept: dict[int, str] = {}
    for number, piece in pieces:
        kept[number] = kept.get(number, "") + piece
    too_long = rf"[^ \-]{{{max_line_bytes + 1},}}".encode()
    assert kept == {number: re.sub(too_long, b"", line.encode()).decode() for number, line in enumerate(expected, 1)}
    assert [(number, raw) for number, raw, _ in rejects] == [
        (number, run.group().decode()[:EXCERPT_BYTES])
        for number, line in enumerate(expected, 1)
        for run in re.finditer(too_long, line.encode())
    ]
    # memory: a chunk's text is under a chunk, a run and a block (each at most the limit) more
    assert all(len(piece.encode()) < chunk_bytes + 2 * max_line_bytes for _, piece in pieces)
    assert (lines_ended, bytes_read) == (len(expected), len(text.encode()))


@pytest.mark.parametrize("chunk_bytes", [3, 64, 1 << 20], ids=["runs span chunks", "mixed", "one chunk"])
def test_a_run_too_long_to_cut_is_one_reject_with_its_line_its_offset_and_its_start(tmp_path, chunk_bytes):
    path = tmp_path / "long.txt"
    path.write_bytes(b"one two\nthree " + b"x" * 300 + b" four\nfive")

    pieces, rejects, lines_ended, _ = read_cutting(path, chunk_bytes, max_line_bytes=100)

    assert "".join(piece for number, piece in pieces if number == 2) == "three  four"
    assert rejects == [
        (
            2,
            "x" * EXCERPT_BYTES,
            "a run of 300 bytes without a separator, from byte 6 of the line, is longer than 100 bytes: only its "
            "start is kept",
        )
    ]
    assert lines_ended == 3


def test_a_nul_byte_in_a_run_too_long_to_keep_still_makes_the_file_binary(tmp_path):
    path = tmp_path / "binary.txt"
    path.write_bytes(b"text\n" + b"x" * 500 + b"\x00" + b"x" * 500)

    with pytest.raises(BatchDataError, match="^line 2 holds a NUL byte: this is a binary file, not text$"):
        list(read_line_chunks(path, 64, max_line_bytes=100, cut_after=CUT_AFTER))
