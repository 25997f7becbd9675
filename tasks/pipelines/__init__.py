"""One folder per pipeline: its source format and schemas, rules, SQL (tables, marts, checks), its own Prefect
tasks and run presentation, its report sections, its sample data and its deployments. Shared code never imports
these folders and no pipeline imports another; what the rest of the project needs from them is found here, by
looking into every folder, so that adding a folder is all it takes."""

import importlib
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # a pipeline's light parts (its name, its sample) must not load the report engine or Prefect
    from tasks.core.landing import Landing
    from tasks.reports.report import ReportSection

PIPELINES = Path(__file__).parent


def pipeline_of(module: str) -> str:
    """The pipeline a module of tasks/pipelines/<name>/ belongs to: <name>. A pipeline's name is its folder's, so the
    name its loads record, its SQL folder and its deployments' folder cannot disagree."""
    return module.removeprefix(f"{__name__}.").split(".")[0]


def pipeline_modules(module: str, pipelines: Path = PIPELINES) -> list[ModuleType]:
    """The `module` (e.g. report_section) of every pipeline folder that has one, by the folder's name."""
    return [
        importlib.import_module(f"{__name__}.{path.parent.name}.{module}")
        for path in sorted(pipelines.glob(f"*/{module}.py"))
    ]


def report_sections() -> list["ReportSection"]:
    """Every pipeline's sections of the periodic report: the SECTIONS of its report_section.py."""
    return [section for module in pipeline_modules("report_section") for section in module.SECTIONS]


def landings() -> list["Landing"]:
    """Every pipeline's claim on the landing folder: the LANDING its source.py declares, if any."""
    return [module.LANDING for module in pipeline_modules("source") if hasattr(module, "LANDING")]
