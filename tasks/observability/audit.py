"""Auditing the warehouse: the invariants every load promises, checked by SQL over the tables themselves.

Each check is one query in `checks/<check_name>.sql` in the component's SQL folder (`tasks/warehouse/sql/meta/`, a pipeline's `tasks/pipelines/<name>/sql/`) that returns the rows breaking an
invariant (none when it holds), so a check reads as the rule it enforces and its failures explain themselves.
"""

from dataclasses import dataclass
from pathlib import Path

import duckdb
from prefect.artifacts import (
    create_table_artifact,
)
from prefect.logging import get_run_logger
from prefect.states import Completed, Failed, State

from tasks.warehouse.connection import COMPONENTS
from tasks.warehouse.runs import record_check_results

EXAMPLES_KEPT = 5


@dataclass(frozen=True)
class Check:
    component: str
    name: str
    sql: str


@dataclass(frozen=True)
class CheckResult:
    component: str
    name: str
    violations: int
    examples: str

    @property
    def passed(self) -> bool:
        return self.violations == 0


def warehouse_checks(components: dict[str, Path] = COMPONENTS) -> list[Check]:
    """Every component's checks, in component order then by name."""
    return [
        Check(component=component, name=script.stem, sql=script.read_text())
        for component, folder in components.items()
        for script in sorted((folder / "checks").glob("*.sql"))
    ]


def run_checks(connection: duckdb.DuckDBPyConnection, checks: list[Check]) -> list[CheckResult]:
    """Run each check; a result counts the violating rows and keeps the first few as text."""
    results = []
    for check in checks:
        cursor = connection.execute(check.sql)
        columns = [column[0] for column in cursor.description]
        rows = cursor.fetchall()
        examples = "; ".join(
            ", ".join(f"{column}={value}" for column, value in zip(columns, row, strict=True))
            for row in rows[:EXAMPLES_KEPT]
        )
        results.append(CheckResult(check.component, check.name, len(rows), examples))
    return results


def audit_warehouse(connection: duckdb.DuckDBPyConnection, flow_run_id: str | None) -> list[CheckResult]:
    """Run every check, and have the warehouse record the results."""
    results = run_checks(connection, warehouse_checks())
    record_check_results(
        connection,
        [(result.component, result.name, result.violations, result.examples or None) for result in results],
        flow_run_id,
    )
    return results


def publish_audit(results: list[CheckResult], warehouse: str, upstream_flow_run_id: str | None) -> None:
    """A table artifact with one row per check, and a log line with the verdict."""
    rows = [
        {
            "component": result.component,
            "check": result.name,
            "verdict": "ok" if result.passed else "FAILED",
            "violations": result.violations,
            "examples": result.examples,
        }
        for result in results
    ]
    after = f" after flow run {upstream_flow_run_id}" if upstream_flow_run_id else ""
    create_table_artifact(rows, key="warehouse-audit", description=f"Audit of {warehouse}{after}")
    get_run_logger().info("%s%s: %s", warehouse, after, audit_verdict(results))


def audit_verdict(results: list[CheckResult]) -> str:
    failed = [
        f"{result.component}.{result.name} ({result.violations:,} rows)" for result in results if not result.passed
    ]
    if failed:
        return f"{len(failed)} of {len(results)} checks failed: " + ", ".join(failed)
    return f"all {len(results)} checks passed"


def audit_state(results: list[CheckResult]) -> State:
    """Completed when every check passed; Failed naming the broken invariants otherwise."""
    verdict = audit_verdict(results)
    if all(result.passed for result in results):
        return Completed(message=verdict, data=results)
    return Failed(message=verdict, data=results)
