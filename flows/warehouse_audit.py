"""Warehouse audit: checks the invariants every load promises (rows add up, rejects kept, marts agree with facts)
and records the verdict in `meta.check_results`. Deployed to run after every completed pipeline run.

python flows/warehouse_audit.py --warehouse PATH
"""

import argparse
import sys
from pathlib import Path

from prefect import flow

from tasks.audit import CheckResult
from tasks.cli import exit_process
from tasks.reporting import audit_state, audit_verdict
from tasks.settings import DEFAULT_WAREHOUSE
from tasks.steps import check_warehouse, report_audit
from tasks.warehouse import WarehouseUnavailable, prepare_warehouse


@flow(name="warehouse-audit")
def warehouse_audit(warehouse: Path = DEFAULT_WAREHOUSE, upstream_flow_run_id: str | None = None) -> list[CheckResult]:
    """Check the warehouse's invariants (after the run `upstream_flow_run_id`, when a pipeline's completion started
    this audit); Failed, naming the broken checks, if any does not hold."""
    results = check_warehouse(warehouse)
    report_audit(results, warehouse, upstream_flow_run_id)
    return audit_state(results)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=warehouse_audit.description)
    parser.add_argument("--warehouse", type=Path, default=DEFAULT_WAREHOUSE, help="DuckDB file to audit")
    args = parser.parse_args(argv)
    if not args.warehouse.is_file():
        print(f"warehouse-audit: no warehouse at {args.warehouse}", file=sys.stderr)
        return 2
    try:
        prepare_warehouse(args.warehouse)
    except WarehouseUnavailable as error:
        print(f"warehouse-audit: {error}", file=sys.stderr)
        return 2
    state = warehouse_audit(warehouse=args.warehouse, return_state=True)
    results = state.result(raise_on_failure=False)
    for result in results:
        print(f"{'ok    ' if result.passed else 'FAILED'} {result.component}.{result.name}  {result.examples}")
    print(audit_verdict(results))
    return 0 if state.is_completed() else 1


if __name__ == "__main__":
    exit_process(main())
