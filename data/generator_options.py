"""Command-line option types the data generators share (they are scripts run from here: `python data/generate_*.py`)."""

import argparse


def share(text: str) -> float:
    """An argparse type: a share of the output, from 0 to 1."""
    value = float(text)
    if not 0 <= value <= 1:
        raise argparse.ArgumentTypeError(f"{text} is not between 0 and 1")
    return value
