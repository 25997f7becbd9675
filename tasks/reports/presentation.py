"""The report's key figures, page and main chart as Prefect artifacts."""

from dataclasses import dataclass
from datetime import UTC
from pathlib import Path

from prefect.artifacts import (
    create_image_artifact,
    create_markdown_artifact,
)
from prefect.logging import get_run_logger

from tasks.reports.report import Report, chart_data_url, key_figures


@dataclass(frozen=True)
class ReportSummary:
    """What a report run made: the period, the page, the sections shown and the headline figures."""

    period: str  # daily | weekly | monthly
    label: str
    first_day: str
    last_day: str
    path: str
    sections: list[str]
    figures: list[tuple[str, str]]


def summarize_report(report: Report, path: Path) -> ReportSummary:
    return ReportSummary(
        period=report.period.kind,
        label=report.period.label,
        first_day=report.period.first_day.isoformat(),
        last_day=report.period.last_day.isoformat(),
        path=str(path),
        sections=report.section_names,
        figures=key_figures(report),
    )


def render_report_markdown(summary: ReportSummary, as_of: str) -> str:
    uri = Path(summary.path).resolve().as_uri()
    lines = [
        f"# {summary.period.capitalize()} report {summary.label}",
        "",
        f"Period {summary.first_day} to {summary.last_day} (UTC); data as of {as_of}.",
        "",
        f"The report: [{Path(summary.path).name}]({uri}) (`{summary.path}` on the machine that ran this flow).",
        "",
    ]
    if summary.figures:
        lines += ["| figure | value |", "|---|---:|"]
        lines += [f"| {name} | {value} |" for name, value in summary.figures]
    else:
        lines.append("No pipeline with a report section has loaded into the warehouse yet: nothing to report.")
    lines += ["", f"Sections: {', '.join(summary.sections) or 'none'}."]
    return "\n".join(lines)


def publish_report(report: Report, path: Path) -> ReportSummary:
    """A markdown artifact with the key figures and a link to the page, an image artifact of its main chart (an SVG
    data URL, which the Prefect UI shows as an image without fetching anything), and a log line."""
    summary = summarize_report(report, path)
    as_of = report.as_of.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC") if report.as_of else "no load yet"
    key = f"report-{summary.period}"
    create_markdown_artifact(
        render_report_markdown(summary, as_of), key=key, description=f"{summary.period} report {summary.label}"
    )
    image = chart_data_url(report)
    if image is not None:
        create_image_artifact(
            image_url=image, key=f"{key}-chart", description=f"{summary.period} report {summary.label}: main chart"
        )
    get_run_logger().info(
        "%s report %s written to %s: %s",
        summary.period,
        summary.label,
        summary.path,
        "; ".join(f"{name} {value}" for name, value in summary.figures) or "no data loaded yet",
    )
    return summary
