"""Warehouse audit: checks the invariants every load promises (rows add up, rejects kept, marts agree with facts)
and records the verdict in `meta.check_results`. Deployed to run after every completed pipeline run.

python flows/warehouse_audit.py --warehouse PATH
"""

import argparse
from pathlib import Path

from tasks.core.settings import DEFAULT_WAREHOUSE
from tasks.kit.arguments import answer_early, description


def command_line() -> argparse.ArgumentParser:
    """The command's arguments, built before the imports below: --help and a mistyped argument answer at once."""
    parser = argparse.ArgumentParser(description=description(__doc__))
    parser.add_argument("--warehouse", type=Path, default=DEFAULT_WAREHOUSE, help="DuckDB file to audit")
    return parser


answer_early(__name__, command_line)

import sys

from prefect import flow

from tasks.kit.cli import CommandRefused, exit_process, parse_command_line, refuse, refuse_bad_settings
from tasks.kit.local_server import LocalServerUnavailable, use_local_server
from tasks.kit.steps import check_warehouse, report_audit
from tasks.observability.audit import CheckResult, audit_state, audit_verdict
from tasks.observability.status import check_warehouse_readable
from tasks.warehouse.connection import WarehouseUnavailable, prepare_warehouse


@refuse_bad_settings
@flow(name="warehouse-audit")
def warehouse_audit(warehouse: Path = DEFAULT_WAREHOUSE, upstream_flow_run_id: str | None = None) -> list[CheckResult]:
    """Check the warehouse's invariants (after the run `upstream_flow_run_id`, when a pipeline's completion started
    this audit); Failed, naming the broken checks, if any does not hold.

    Args:
        upstream_flow_run_id: The pipeline run whose completion started this audit, if one did.
    """
    results = check_warehouse(warehouse)
    report_audit(results, warehouse, upstream_flow_run_id)
    return audit_state(results)


def parse_arguments(argv: list[str] | None = None) -> argparse.Namespace:
    """The command line, checked with the settings: anything bad stops it with one line and exit code 2, before
    anything is written."""
    parser = command_line()
    args = parse_command_line(parser, argv, warehouse_audit.name)
    try:
        check_warehouse_readable(args.warehouse)  # a file that is not a batchyard warehouse is left as it is
    except WarehouseUnavailable as error:
        refuse(warehouse_audit.name, error)
    return args


def main(argv: list[str] | None = None) -> int:
    try:
        args = parse_arguments(argv)
    except CommandRefused as refused:
        return refused.say()
    try:
        prepare_warehouse(args.warehouse)
        use_local_server()
    except (WarehouseUnavailable, LocalServerUnavailable) as error:
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
