"""Checking a run's row of meta.runs against the ledger, computed independently in SQL."""

from pathlib import Path

from warehouse_snapshot import query

# Per column, true when the run's row agrees with the sums of the batches the ledger holds as loaded by that flow run.
RUN_VERSUS_LEDGER = """
    select
        runs.rows_in = ledger.rows_in,
        runs.rows_loaded = ledger.rows_loaded,
        runs.rows_rejected = ledger.rows_rejected,
        runs.bytes_read = ledger.bytes_read,
        runs.batches = ledger.batches,
        runs.reject_rate = ledger.rows_rejected / ledger.rows_in,
        runs.max_batch_reject_rate = ledger.max_rate,
        runs.rows_per_second = runs.rows_in / runs.seconds,
        runs.peak_memory_bytes > 0,
        runs.finished_at >= runs.started_at
    from meta.runs as runs
    join (
        select
            flow_run_id,
            sum(rows_in) as rows_in,
            sum(rows_loaded) as rows_loaded,
            sum(rows_rejected) as rows_rejected,
            sum(bytes_read) as bytes_read,
            count(*) as batches,
            max(rows_rejected / nullif(rows_in, 0)) as max_rate
        from meta.batches
        where status = 'loaded'
        group by flow_run_id
    ) as ledger using (flow_run_id)
    where runs.flow_run_id = ?
"""


def assert_run_matches_ledger(warehouse: Path, state, expected_state: str) -> None:
    """The flow run of `state` recorded one row in meta.runs, ended as `expected_state` with the state's message as
    its reason, and its numbers add up to the ledger's."""
    flow_run_id = str(state.state_details.flow_run_id)
    assert query(warehouse, RUN_VERSUS_LEDGER, [flow_run_id]) == [(True,) * 10]
    reason = None if expected_state == "completed" else state.message
    assert query(warehouse, "select state, reason from meta.runs where flow_run_id = ?", [flow_run_id]) == [
        (expected_state, reason)
    ]
