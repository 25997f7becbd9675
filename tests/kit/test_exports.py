"""Export fields (tasks/kit/exports.py): timestamps are read by DuckDB's parser, checked here against Polars' chrono
reading of the same text (the parser it replaced, a different engine) on every shape the TIMESTAMP pattern accepts,
impossible dates and times included."""

from datetime import UTC, datetime

import polars as pl
from hypothesis import given, settings
from hypothesis import strategies as st

from tasks.kit.exports import TIMESTAMP, timestamp_field


def two_digits(low: int, high: int) -> st.SearchStrategy[str]:
    return st.integers(low, high).map(lambda number: f"{number:02d}")


# Each part spans its valid values and beyond them (month 13, day 32, minute 60, second 60), within the digits the
# pattern allows (hours to 23).
TIMESTAMP_TEXT = st.builds(
    lambda year, month, day, separator, hour, minute, seconds, offset: (
        f"{year:04d}-{month}-{day}{separator}{hour}:{minute}{seconds}{offset}"
    ),
    st.sampled_from([0, 1, 1899, 1900, 1970, 2024, 2026, 2199, 2200, 9999]) | st.integers(0, 9999),
    two_digits(0, 19),
    two_digits(0, 39),
    st.sampled_from(["T", " "]),
    two_digits(0, 23),
    two_digits(0, 69),
    st.just("")
    | st.builds(
        lambda second, fraction: f":{second}{fraction}",
        two_digits(0, 69),
        st.just("") | st.text("0123456789", min_size=1, max_size=6).map(lambda digits: "." + digits),
    ),
    st.just("Z")
    | st.builds(
        lambda sign, hours, separator, minutes: f"{sign}{hours}{separator}{minutes}" if minutes else f"{sign}{hours}",
        st.sampled_from("+-"),
        two_digits(0, 14),
        st.sampled_from(["", ":"]),
        st.just("") | two_digits(0, 59),
    ),
)


def chrono_instants(text: pl.Expr) -> pl.Expr:
    """The reference: Polars' chrono format after rewriting every shape into one (seconds written, T between), except
    that a second 60 is no time (chrono reads it as a leap second)."""
    one_shape = text.str.replace(" ", "T", literal=True).str.replace(r"T([0-9]{2}:[0-9]{2})([Z+-])", "T$1:00$2")
    chrono = one_shape.str.to_datetime("%Y-%m-%dT%H:%M:%S%.f%#z", time_zone="UTC", time_unit="us", strict=False)
    return pl.when(~one_shape.str.contains("T..:..:60")).then(chrono)


def read_instants(texts: list[str]) -> pl.DataFrame:
    typed, _ = timestamp_field("ts")
    frame = pl.DataFrame({"ts as written": texts}, schema={"ts as written": pl.String})
    return frame.select(typed, reference=chrono_instants(pl.col("ts as written")))


@settings(max_examples=300, deadline=None)
@given(st.lists(TIMESTAMP_TEXT, min_size=1, max_size=50))
def test_timestamps_read_as_chrono_reads_them(texts):
    assert all(pl.Series(texts).str.contains(TIMESTAMP))
    read = read_instants(texts)
    differing = read.with_columns(text=pl.Series(texts)).filter(pl.col("ts").ne_missing(pl.col("reference")))
    assert differing.is_empty(), differing.select("text", pl.col("ts", "reference").cast(pl.String)).rows()


def test_timestamps_by_hand():
    read = read_instants(
        [
            "2026-10-01T10:00:00Z",
            "2026-10-01 10:00+05:30",
            "2026-10-01T10:00:00.25-0100",
            "2024-02-29T23:59:59.999999+14",
            "2026-02-29T10:00:00Z",  # no such day
            "2026-10-01T24:00:00Z",  # no such hour
            "2026-12-31T23:59:60Z",  # no leap second
            "2026-10-01T10:00:00",  # no offset: not read
            "yesterday",
            None,
        ]
    )
    assert read["ts"].to_list() == [
        datetime(2026, 10, 1, 10, 0, tzinfo=UTC),
        datetime(2026, 10, 1, 4, 30, tzinfo=UTC),
        datetime(2026, 10, 1, 11, 0, 0, 250000, tzinfo=UTC),
        datetime(2024, 2, 29, 9, 59, 59, 999999, tzinfo=UTC),
        None,
        None,
        None,
        None,
        None,
        None,
    ]
