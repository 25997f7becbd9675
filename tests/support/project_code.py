"""The project's own code, as files and as module names, for tests that read or import all of it."""

from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[2]
TASKS = PROJECT_ROOT / "tasks"


def code_files(*folders: str) -> list[Path]:
    return sorted(path for folder in folders for path in (PROJECT_ROOT / folder).rglob("*.py"))


def module_name(path: Path) -> str:
    parts = path.relative_to(PROJECT_ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def project_modules(folder: Path = TASKS) -> list[str]:
    """Every module under `folder` (a package of the project), by its dotted name."""
    return [module_name(path) for path in sorted(folder.rglob("*.py"))]
