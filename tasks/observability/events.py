"""The events a pipeline's run emits, on the resource `batchyard.pipeline.<name>`, for downstream deployments and
automations to match."""

from tasks.observability.monitoring import (
    threshold_message,
)
from tasks.observability.summaries import RunSummary

PIPELINE_COMPLETED = "batchyard.pipeline.completed"


def completion_event(summary: RunSummary, flow_run_id: str) -> dict:
    """The arguments of `prefect.events.emit_event` saying that a pipeline's run completed: downstream deployments
    trigger on it. Prefect's own `prefect.flow-run.Completed` reaches triggers up to 15 minutes late when the run
    came from a cron schedule (../shared/STACK.md); this event is sent by the run itself, at once."""
    return pipeline_event(
        PIPELINE_COMPLETED,
        summary,
        flow_run_id,
        batches_loaded=len(summary.batches),
        rows_loaded=summary.rows_loaded,
        rows_rejected=summary.rows_rejected,
        marts_refreshed_days=summary.marts_refreshed_days,
    )


def pipeline_event(event: str, summary: RunSummary, flow_run_id: str, **payload: object) -> dict:
    """The arguments of `prefect.events.emit_event` for an event about a pipeline's run: on the resource
    `batchyard.pipeline.<pipeline>` that automations and triggers match, with the flow run as a related resource and
    the run's pipeline, flow run id, warehouse and source in the payload, before `payload`."""
    return {
        "event": event,
        "resource": {
            "prefect.resource.id": f"batchyard.pipeline.{summary.pipeline}",
            "prefect.resource.name": summary.pipeline,
            "batchyard.pipeline": summary.pipeline,
        },
        "related": [{"prefect.resource.id": f"prefect.flow-run.{flow_run_id}", "prefect.resource.role": "flow-run"}],
        "payload": {
            "pipeline": summary.pipeline,
            "flow_run_id": flow_run_id,
            "warehouse": summary.warehouse,
            "source": summary.source,
        }
        | payload,
    }


REJECTS_OVER_THRESHOLD_EVENT = "batchyard.pipeline.rejects-over-threshold"


def rejects_event(summary: RunSummary, flow_run_id: str) -> dict:
    """The arguments of `prefect.events.emit_event` saying that some of the run's batches rejected more than the
    threshold allows, or every row (they loaded): an automation alerts on it (deployments/automations.yaml)."""
    return pipeline_event(
        REJECTS_OVER_THRESHOLD_EVENT,
        summary,
        flow_run_id,
        threshold=summary.max_reject_rate,
        min_rows=summary.reject_rate_min_rows,
        message=threshold_message(summary.over_threshold, summary.max_reject_rate, summary.reject_rate_min_rows),
        batches=[
            {
                "source": batch.source,
                "rows_in": batch.rows_in,
                "rows_rejected": batch.rows_rejected,
                "reject_rate": batch.rows_rejected / batch.rows_in,
            }
            for batch in summary.over_threshold
        ],
    )
