"""Dependencies point one way: core ← warehouse ← observability ← kit ← reports, pipelines ← flows. Shared code
never imports a pipeline, no pipeline imports another, and nothing under tasks/ imports a flow."""

import ast

import pytest
from project_code import TASKS, code_files, module_name

# A layer may import its own modules and those of the layers before it.
LAYERS = ("core", "warehouse", "observability", "kit", "reports", "pipelines")


def imported_modules(source: str) -> set[str]:
    """Every `tasks.*` or `flows.*` module the source imports, at the top or inside a function."""
    found = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
    return {name for name in found if name.split(".")[0] in ("tasks", "flows")}


def place(module: str) -> tuple[int, str | None]:
    """A module's layer (its index in LAYERS) and, under tasks.pipelines, its pipeline."""
    parts = module.split(".")
    if parts[0] == "flows":
        return len(LAYERS), None
    if len(parts) < 2 or parts[1] not in LAYERS:
        return -1, None  # the tasks package itself
    pipeline = parts[2] if parts[1] == "pipelines" and len(parts) > 2 else None
    return LAYERS.index(parts[1]), pipeline


def wrong_imports(module: str, source: str) -> list[str]:
    layer, pipeline = place(module)
    wrong = []
    for imported in sorted(imported_modules(source)):
        their_layer, their_pipeline = place(imported)
        if module.startswith("tasks.reports") and imported.startswith("tasks.pipelines"):
            wrong.append(f"{module} imports {imported}, a pipeline")
        elif their_layer > layer:
            wrong.append(f"{module} imports {imported}, a later layer")
        elif pipeline and their_pipeline not in (None, pipeline):
            wrong.append(f"{module} imports {imported}, another pipeline")
    return wrong


def test_every_module_under_tasks_is_in_a_layer():
    assert [path for path in code_files("tasks") if place(module_name(path))[0] < 0] == [TASKS / "__init__.py"]


def test_dependencies_point_one_way():
    wrong = [problem for path in code_files("tasks") for problem in wrong_imports(module_name(path), path.read_text())]
    assert wrong == []


@pytest.mark.parametrize(
    ("module", "source", "problem"),
    [
        ("tasks.warehouse.loads", "from tasks.pipelines.migrate.migration import CODE_VERSION", "a later layer"),
        ("tasks.core.records", "def f():\n    from tasks.kit.discovery import day_in_name", "a later layer"),
        ("tasks.kit.steps", "import tasks.pipelines.sales.source", "a later layer"),
        ("tasks.reports.report", "from tasks.pipelines.billing import invoicing", "a pipeline"),
        ("tasks.pipelines.sales.steps", "from tasks.pipelines.billing.source import PIPELINE", "another pipeline"),
        ("tasks.pipelines.sales.steps", "from flows.sales import sales", "a later layer"),
    ],
)
def test_the_check_catches_an_import_against_the_direction(module, source, problem):
    (found,) = wrong_imports(module, source)
    assert found.endswith(problem)


@pytest.mark.parametrize(
    ("module", "source"),
    [
        (
            "tasks.pipelines.sales.steps",
            "from tasks.pipelines.sales.source import PIPELINE\nfrom tasks.kit import steps",
        ),
        ("tasks.reports.steps", "from tasks.kit.steps import RETRIES"),
        ("tasks.warehouse.loads", "from tasks.core.mapreduce import Shuffle"),
        ("flows.sales", "from tasks.pipelines.sales.source import SALES_EXPORTS"),
    ],
)
def test_the_check_allows_imports_along_the_direction(module, source):
    assert wrong_imports(module, source) == []
