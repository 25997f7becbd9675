"""Run monitoring: reject rates, the reject-rate guard, and the process's peak memory. Plain functions, no Prefect."""

import resource
import sys
from collections.abc import Sequence
from pathlib import PurePosixPath
from typing import Annotated

from pydantic import Field

from tasks.warehouse.loads import BatchOutcome

# A flow's max_reject_rate parameter: a share, so that 5 typed for 5% in the UI is refused rather than never tripping.
RejectRateThreshold = Annotated[float, Field(ge=0, le=1)]

# meta.runs.state: how a run ended. A run with failed batches is `failed` even when some batches also went over
# the threshold (its reason names both); `rejects_over_threshold` means every batch loaded but some rejected too much.
COMPLETED = "completed"
FAILED = "failed"
REJECTS_OVER_THRESHOLD = "rejects_over_threshold"


def reject_rate(rows_rejected: int, rows_in: int) -> float | None:
    """rows_rejected / rows_in; None when nothing was read (a rate of nothing is unknown, not 0)."""
    return rows_rejected / rows_in if rows_in else None


def rejected_whole(batch: BatchOutcome) -> bool:
    """A loaded batch that read rows and loaded none of them (a column missing or unexpected rejects every row):
    nothing of it is in the warehouse, so the guard's minimum size does not spare it."""
    return batch.status == "loaded" and batch.rows_in > 0 and batch.rows_loaded == 0


def guarded(batch: BatchOutcome, min_rows: int) -> bool:
    """Whether the threshold applies to `batch`: it has at least `min_rows` rows, or it was rejected whole."""
    return batch.rows_in >= min_rows or rejected_whole(batch)


def over_threshold(batch: BatchOutcome, threshold: float, min_rows: int) -> bool:
    """A loaded batch the threshold applies to (`guarded`) whose reject rate is strictly greater than `threshold`;
    a batch that read no rows never is. So a file rejected whole trips it whatever its size, unless the threshold is
    1, which accepts any share."""
    rate = reject_rate(batch.rows_rejected, batch.rows_in)
    return batch.status == "loaded" and guarded(batch, min_rows) and rate is not None and rate > threshold


def batches_over_threshold(batches: Sequence[BatchOutcome], threshold: float, min_rows: int) -> list[BatchOutcome]:
    return [batch for batch in batches if over_threshold(batch, threshold, min_rows)]


def guarded_batch_reject_rate(batches: Sequence[BatchOutcome], min_rows: int) -> float | None:
    """The worst reject rate among the batches the threshold applies to (`guarded`); None when there is none."""
    rates = [reject_rate(batch.rows_rejected, batch.rows_in) for batch in batches if guarded(batch, min_rows)]
    return max((rate for rate in rates if rate is not None), default=None)


def percent(fraction: float, beside: float | None = None) -> str:
    """`fraction` as a percentage with one decimal, or as many more (up to 4) as it takes to tell it apart from
    `beside` (5.04% over a 5.0% threshold must not read 5.0%)."""
    for decimals in range(1, 5):
        text = f"{fraction * 100:.{decimals}f}"
        if beside is None or text != f"{beside * 100:.{decimals}f}":
            return f"{text}%"
    return f"{fraction * 100:.4f}%"


def threshold_percent(threshold: float) -> str:
    """The threshold as set, e.g. 5.0%, 2.5%, 1.25%: never rounded, since a reader compares rates with it."""
    text = f"{threshold * 100:.4f}".rstrip("0")
    return f"{text}0%" if text.endswith(".") else f"{text}%"


def batch_name(source: str) -> str:
    """A batch's short name in messages: the file name, or for a migrated table `<database>#<table>`."""
    return PurePosixPath(source).name or source


def guard_rule(threshold: float, min_rows: int) -> str:
    """The guard in words, e.g. `the 5.0% reject-rate threshold (batches of at least 100 rows)`."""
    applies = f" (batches of at least {min_rows:,} rows)" if min_rows > 1 else ""
    return f"the {threshold_percent(threshold)} reject-rate threshold{applies}"


def threshold_message(offending: Sequence[BatchOutcome], threshold: float, min_rows: int) -> str:
    """e.g. `2 batch(es) over the 5.0% reject-rate threshold (batches of at least 100 rows) or rejected whole:
    orders_2026-10-02.csv 12.3% (123 of 1,000 rows), customers_2026-10-02.csv rejected whole (23 of 23 rows)`; without
    "or rejected whole" when no batch was."""
    listed = ", ".join(
        f"{batch_name(batch.source)} "
        + ("rejected whole" if rejected_whole(batch) else percent(batch.rows_rejected / batch.rows_in, threshold))
        + f" ({batch.rows_rejected:,} of {batch.rows_in:,} rows)"
        for batch in offending
    )
    whole = " or rejected whole" if any(rejected_whole(batch) for batch in offending) else ""
    return f"{len(offending)} batch(es) over {guard_rule(threshold, min_rows)}{whole}: {listed}"


def peak_memory_bytes() -> int | None:
    """The peak resident set size of this process so far (the flow's process: on a Dask cluster the workers' memory
    is not in it), or None where the platform does not say. Linux reports ru_maxrss in KiB, macOS in bytes."""
    try:
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    except (AttributeError, OSError):  # pragma: no cover - not on the platforms batchyard runs on
        return None
    if peak <= 0:
        return None
    return peak if sys.platform == "darwin" else peak * 1024
