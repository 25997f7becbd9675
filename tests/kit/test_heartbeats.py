"""A flow run's end does not wait for its heartbeat thread, which still sends heartbeats (tasks/kit/heartbeats.py)."""

import threading
import time

import httpx
from prefect import flow, flow_engine
from prefect.context import FlowRunContext
from prefect.settings import PREFECT_API_URL, PREFECT_FLOWS_HEARTBEAT_FREQUENCY, temporary_settings

import tasks.kit.cli  # noqa: F401 - every flow's module imports it, which is what ends runs without the join
from tasks.kit.heartbeats import _heartbeats_not_joined


def heartbeat_events(flow_run_id: str) -> list[dict]:
    response = httpx.post(
        f"{PREFECT_API_URL.value()}/events/filter",
        json={
            "filter": {
                "event": {"name": ["prefect.flow-run.heartbeat"]},
                "any_resource": {"id": [f"prefect.flow-run.{flow_run_id}"]},
            },
            "limit": 10,
        },
        timeout=10,
    )
    response.raise_for_status()
    return response.json()["events"]


def test_a_run_on_a_server_sends_its_heartbeat_and_ends_without_joining_the_heartbeat_thread(prefect_server):
    assert flow_engine._send_heartbeats is _heartbeats_not_joined
    during_the_run: dict[str, object] = {}
    joined = []

    @flow
    def short_run():
        during_the_run["flow_run_id"] = str(FlowRunContext.get().flow_run.id)
        (heartbeat,) = [
            thread
            for thread in threading.enumerate()
            if thread._args and getattr(thread._args[0], "__name__", "") == "heartbeat_loop"
        ]
        heartbeat.join = lambda *arguments, **options: joined.append(heartbeat)  # the engine's join, recorded
        during_the_run["heartbeat"] = heartbeat

    with temporary_settings(updates={PREFECT_FLOWS_HEARTBEAT_FREQUENCY: 30}):
        assert short_run(return_state=True).is_completed()

    assert joined == []
    heartbeat = during_the_run["heartbeat"]
    threading.Thread.join(heartbeat, timeout=5)  # it stops by itself, within a second of the run's end
    assert not heartbeat.is_alive()
    deadline = time.monotonic() + 30  # events reach the server's database through its event pipeline
    while not (sent := heartbeat_events(during_the_run["flow_run_id"])) and time.monotonic() < deadline:
        time.sleep(0.5)
    assert len(sent) == 1  # the one sent as the run started; the next would be 30 s later
