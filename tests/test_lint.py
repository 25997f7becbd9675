"""The code passes the project's linter and formatter, so CI catches what a local run forgot."""

import subprocess
import sys
from pathlib import Path

import pytest

PROJECT_ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize("command", [["check", "."], ["format", "--check", "."]], ids=["ruff-check", "ruff-format"])
def test_ruff_is_clean(command):
    finished = subprocess.run(
        [sys.executable, "-m", "ruff", *command], cwd=PROJECT_ROOT, capture_output=True, text=True
    )
    assert finished.returncode == 0, finished.stdout + finished.stderr
