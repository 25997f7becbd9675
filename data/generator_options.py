"""Command-line option types the data generators share (they are scripts run from here: `python data/generate_*.py`)."""

import argparse
import sys
from pathlib import Path


def share(text: str) -> float:
    """An argparse type: a share of the output, from 0 to 1."""
    value = float(text)
    if not 0 <= value <= 1:
        raise argparse.ArgumentTypeError(f"{text} is not between 0 and 1")
    return value


def report_written_folder(out: Path, summary: dict, elapsed: float) -> None:
    """One line on what a folder generator wrote (`summary`: written paths, files per form, rows, bad rows per kind,
    bytes), and a warning for each file in `out` it did not write, which a flow reading the folder would load too."""
    names = {path.name for path in summary["written"]}
    for stale in sorted(path.name for path in out.iterdir() if path.name not in names):
        print(f"warning: {out / stale} is not from this run; delete it if it should not be read", file=sys.stderr)
    forms = ", ".join(f"{count} {form}" for form, count in sorted(summary["files"].items()))
    print(
        f"{len(names)} files ({forms}) in {out}: {summary['rows']} rows, {sum(summary['bad'].values())} bad, "
        f"{summary['bytes'] / 2**20:.1f} MiB in {elapsed:.1f} s"
    )
