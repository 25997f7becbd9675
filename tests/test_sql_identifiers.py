"""Identifiers reach SQL only through one quoting path: a search of the code for SQL formatted from a value that did
not pass it.

Every f-string that builds SQL may interpolate only (a) a call of `quote_identifier` or of a helper built on it,
(b) a local name whose every assignment is such SQL itself (a string constant, an f-string held to the same rule, a
join of quoted names) or a loop over constants, (c) a parameter that every call in its module passes such SQL, or (d) a value listed below, with the reason it never comes from
input. A new interpolation that is none of these fails here, naming its file and line."""

import ast
import re
from pathlib import Path

import pytest

PROJECT_ROOT = Path(__file__).resolve().parent.parent
CODE = sorted(path for folder in ("tasks", "flows", "deployments") for path in (PROJECT_ROOT / folder).rglob("*.py"))

# The quoting path: quote_identifier, and the helpers that only join its results.
QUOTE = "quote_identifier"
QUOTING_HELPERS = {"_sqlite_table", "_postgres_table", "_copy_table_sql", "_target_table_sql", "_key_clause"}

# Values from code, never from input or a catalogue, by file and expression.
FROM_CODE = {
    ("tasks/warehouse/loads.py", "target.table"): "a FactTable's table: a constant each pipeline's code declares",
    ("tasks/warehouse/loads.py", "target.partition_day"): "a FactTable's partition column: a constant in code",
    ("tasks/warehouse/loads.py", "replaces[0]"): "'batch_id' or 'source', chosen by code",
    ("tasks/warehouse/loads.py", "reducer"): "a MapReduce job's reducer name: a key of a dict in the job's code",
    ("tasks/warehouse/loads.py", "table"): "the merge's temporary tables: names from code and from reducer names",
    (
        "tasks/pipelines/migrate/migration.py",
        "bounds",
    ): "placeholders cast to key types as PostgreSQL's format_type() spells them (it quotes a name that needs it)",
}

SQL_START = re.compile(
    r"^\s*\(?\s*(select|insert|delete|update|create|drop|alter|with|where|order by|group by|from|join|limit)\b", re.I
)


def _sql_fstrings(tree: ast.AST, function: ast.FunctionDef | None = None):
    """(innermost enclosing function or None, f-string) for every f-string whose text, interpolations aside, reads as
    SQL."""
    for node in ast.iter_child_nodes(tree):
        if isinstance(node, ast.JoinedStr) and SQL_START.match(_shape(node)):
            yield function, node
        yield from _sql_fstrings(node, node if isinstance(node, ast.FunctionDef) else function)


def _shape(node: ast.JoinedStr) -> str:
    return "".join(part.value if isinstance(part, ast.Constant) else "{}" for part in node.values)


def _calls_quoting(node: ast.AST) -> bool:
    return any(
        isinstance(call, ast.Call)
        and isinstance(call.func, ast.Name)
        and (call.func.id == QUOTE or call.func.id in QUOTING_HELPERS)
        for call in ast.walk(node)
    )


def _assignments(function: ast.FunctionDef | None, name: str, module: ast.Module) -> list[tuple[ast.AST, ast.AST]]:
    """(value, the function it is evaluated in) for what `name` is assigned in `function`: a loop variable counts as
    its loop's iterable, a parameter as the argument every call of the function in `module` passes."""
    if function is None:
        return []
    found = []
    for node in ast.walk(function):
        if isinstance(node, ast.Assign) and any(
            isinstance(target, ast.Name) and target.id == name for target in node.targets
        ):
            found.append((node.value, function))
        elif isinstance(node, ast.For) and isinstance(node.target, ast.Name) and node.target.id == name:
            found.append((node.iter, function))
    parameters = [argument.arg for argument in function.args.args]
    if name in parameters:
        position = parameters.index(name)
        for caller, call in _calls_of(module, function.name):
            passed = [keyword.value for keyword in call.keywords if keyword.arg == name]
            passed += call.args[position : position + 1]
            found += [(value, caller) for value in passed] or [(call, caller)]  # an unmatched call is not safe
    return found


def _calls_of(module: ast.Module, name: str):
    for caller in ast.walk(module):
        if isinstance(caller, ast.FunctionDef):
            for call in ast.walk(caller):
                if isinstance(call, ast.Call) and isinstance(call.func, ast.Name) and call.func.id == name:
                    yield caller, call


def _is_safe(value: ast.AST, function: ast.FunctionDef | None, module: ast.Module, file: str, seen=frozenset()) -> bool:
    if (file, ast.unparse(value)) in FROM_CODE:
        return True
    if isinstance(value, ast.Constant) or (
        isinstance(value, ast.Tuple) and all(isinstance(item, ast.Constant) for item in value.elts)
    ):
        return True
    if isinstance(value, ast.JoinedStr):
        return all(
            _is_safe(part.value, function, module, file, seen)
            for part in value.values
            if isinstance(part, ast.FormattedValue)
        )
    if isinstance(value, ast.Call) and _calls_quoting(value):  # e.g. ", ".join(quote_identifier(n) for n in names)
        return True
    if isinstance(value, ast.Name) and (function, value.id) not in seen:
        assigned = _assignments(function, value.id, module)
        return bool(assigned) and all(
            _is_safe(each, where, module, file, seen | {(function, value.id)}) for each, where in assigned
        )
    return False


def unquoted_interpolations() -> list[str]:
    found = []
    for path in CODE:
        file = str(path.relative_to(PROJECT_ROOT))
        module = ast.parse(path.read_text())
        for function, fstring in _sql_fstrings(module):
            for part in fstring.values:
                if isinstance(part, ast.FormattedValue) and not _is_safe(part.value, function, module, file):
                    found.append(f"{file}:{fstring.lineno}: {{{ast.unparse(part.value)}}} in {_shape(fstring)[:60]!r}")
    return found


def test_every_identifier_in_formatted_sql_passes_the_quoting_path():
    assert unquoted_interpolations() == []


def test_the_quoting_helpers_are_built_on_quote_identifier():
    helpers = {
        node.name: node
        for path in CODE
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, ast.FunctionDef) and node.name in QUOTING_HELPERS
    }
    assert set(helpers) == QUOTING_HELPERS
    assert [name for name, node in helpers.items() if not _calls_quoting(node)] == []


@pytest.mark.parametrize(
    "code, caught",
    [
        ('def f(c, schema, table):\n    c.execute(f"select count(*) from {schema}.{table}")\n', 2),
        ('def f(c, name):\n    sql = f"drop table {name}"\n', 1),
        ('def f(c, names):\n    cols = ", ".join(names)\n    c.execute(f"select {cols} from t")\n', 1),
        ('def f(c, name):\n    c.execute(f"select count(*) from {quote_identifier(name)}")\n', 0),
        (
            'def f(c, names):\n    cols = ", ".join(quote_identifier(n) for n in names)\n    c.sql(f"select {cols} from t")\n',
            0,
        ),
        ('def f(c):\n    for t in ("a", "b"):\n        c.execute(f"drop table if exists {t}")\n', 0),
        ('def f(c, where):\n    c.execute(f"delete from t where {where}")\n', 1),
        ('def f(c, t):\n    c.execute(f"drop table {t}")\ndef g(c):\n    f(c, quote_identifier("x"))\n', 0),
        (
            'def f(c, t):\n    c.execute(f"drop table {t}")\ndef g(c, name):\n    f(c, quote_identifier(name))\n    f(c, t=name)\n',
            1,
        ),
    ],
)
def test_the_search_catches_sql_formatted_from_a_value_that_was_not_quoted(code, caught):
    """The rule itself, on small pieces of code: it flags what would let a name write SQL, and only that."""
    module = ast.parse(code)
    found = [
        part
        for function, fstring in _sql_fstrings(module)
        for part in fstring.values
        if isinstance(part, ast.FormattedValue) and not _is_safe(part.value, function, module, "example.py")
    ]
    assert len(found) == caught
