"""The flows' shared command line (tasks/cli.py): bad settings stop the command with one line and exit code 2,
before anything runs."""

import contextlib
import io

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import flows.access_logs


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--dask-workers", "-1"], "argument --dask-workers: must be from 0 to 256, not -1"),
        (["--chunk-mb", "99999999999"], "argument --chunk-mb: must be from 1 to 1,024, not 99999999999"),
        (["--chunk-mb", "0"], "argument --chunk-mb: must be from 1 to 1,024, not 0"),
        (["--chunk-mb", "lots"], "argument --chunk-mb: invalid whole_number value: 'lots'"),
        (["--max-reject-rate", "5"], "argument --max-reject-rate: must be from 0 to 1 (0.05 is 5%), not 5"),
    ],
    ids=["negative-workers", "huge-chunk", "zero-chunk", "not-a-number", "rate-as-percent"],
)
def test_a_bad_setting_stops_the_command_with_one_line(capsys, arguments, message):
    with pytest.raises(SystemExit) as stopped:
        flows.access_logs.main(arguments)

    assert stopped.value.code == 2
    assert capsys.readouterr().err.strip().splitlines()[-1].endswith(message)


@settings(max_examples=100, deadline=None)
@given(option=st.sampled_from(["--chunk-mb", "--dask-workers", "--session-gap-minutes"]), value=st.text(max_size=12))
def test_any_text_for_a_number_is_a_number_in_range_or_one_line_and_exit_2(option, value):
    lowest, highest = {"--chunk-mb": (1, 1024), "--dask-workers": (0, 256), "--session-gap-minutes": (1, 10**9)}[option]
    try:
        valid = lowest <= int(value) <= highest
    except ValueError:
        valid = False
    if valid:
        return  # a valid value runs the flow: the flow tests do that
    error = io.StringIO()
    with pytest.raises(SystemExit) as stopped, contextlib.redirect_stderr(error):
        flows.access_logs.main([f"{option}={value}"])
    assert stopped.value.code == 2
    assert f": error: argument {option}: " in error.getvalue().splitlines()[-1]
