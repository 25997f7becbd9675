"""Choosing a run's files: by name, by the day in their name (a backfill), or all of them."""

from datetime import date
from pathlib import Path

import pytest

from tasks.discovery import SourceUnavailable, day_in_name, select_files

PATTERNS = ("*.log", "*.log.gz")


@pytest.mark.parametrize(
    ("name", "day"),
    [
        ("access-2026-10-01.log", date(2026, 10, 1)),
        ("access_2026_10_01.log.gz", date(2026, 10, 1)),
        ("access.20261001.log", date(2026, 10, 1)),
        ("host7-access-2026-02-28.log", date(2026, 2, 28)),
        ("2026-13-40-then-2026-11-02.log", date(2026, 11, 2)),  # the first valid calendar day counts
        ("access-202610011.log", None),  # nine digits are not a day
        ("access.log", None),
    ],
    ids=["dashes", "underscores", "compact", "other-digits-before", "invalid-then-valid", "too-many-digits", "none"],
)
def test_the_day_in_a_file_name(name, day):
    assert day_in_name(Path(name)) == day


LISTED = [Path("/in") / name for name in ("a-2026-09-30.log", "a-2026-10-01.log", "a-2026-10-02.log.gz", "a.log")]


@pytest.mark.parametrize(
    ("first_day", "last_day", "expected"),
    [
        (None, None, ["a-2026-09-30.log", "a-2026-10-01.log", "a-2026-10-02.log.gz", "a.log"]),
        (date(2026, 10, 1), date(2026, 10, 1), ["a-2026-10-01.log"]),
        (date(2026, 10, 1), None, ["a-2026-10-01.log", "a-2026-10-02.log.gz"]),
        (None, date(2026, 9, 30), ["a-2026-09-30.log"]),
        (date(2026, 11, 1), None, []),
    ],
    ids=["no-range-takes-all", "one-day", "open-end", "open-start", "nothing-in-range"],
)
def test_a_date_range_keeps_the_files_whose_name_carries_a_day_in_it(first_day, last_day, expected):
    selected = select_files(LISTED, None, Path("/in"), PATTERNS, first_day, last_day)
    assert [path.name for path in selected] == expected


def test_named_files_must_also_fall_in_the_range():
    assert select_files(LISTED, ["a-2026-10-01.log"], Path("/in"), PATTERNS, date(2026, 10, 1)) == [LISTED[1]]
    with pytest.raises(SourceUnavailable, match="a-2026-09-30.log is outside the days asked for"):
        select_files(LISTED, ["a-2026-09-30.log"], Path("/in"), PATTERNS, date(2026, 10, 1))


def test_a_range_that_ends_before_it_starts_is_refused():
    with pytest.raises(SourceUnavailable, match="the first day 2026-10-02 is after the last day 2026-10-01"):
        select_files(LISTED, None, Path("/in"), PATTERNS, date(2026, 10, 2), date(2026, 10, 1))
