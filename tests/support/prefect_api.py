"""The few REST calls the Prefect UI makes that the end-to-end tests make too: start a deployment's run, find the
runs an event triggered, wait for a run to finish."""

import time

import httpx
from deployment_stack import PrefectStack, wait_for

TERMINAL = {"COMPLETED", "FAILED", "CRASHED", "CANCELLED"}
RUN_TIMEOUT = 240  # seconds: a worker starts a process per run, and a burst queues behind a concurrency limit


class Api:
    """The few REST calls the UI makes for these tests."""

    def __init__(self, stack: PrefectStack):
        self.stack = stack
        self.client = httpx.Client(base_url=stack.api_url, timeout=30)

    def request(self, method: str, url: str, **options) -> httpx.Response:
        """One call, retried while the server answers 503: on SQLite it does so when its database is locked by
        concurrent writes, and Prefect's own client retries the same way."""
        for _ in range(20):
            response = self.client.request(method, url, **options)
            if response.status_code != 503:
                response.raise_for_status()
                return response
            time.sleep(1)
        response.raise_for_status()
        return response

    def deployment_id(self, flow_name: str, deployment_name: str) -> str:
        response = self.request("GET", f"/deployments/name/{flow_name}/{deployment_name}")
        return response.json()["id"]

    def run_deployment(self, flow_name: str, deployment_name: str, parameters: dict) -> str:
        deployment_id = self.deployment_id(flow_name, deployment_name)
        response = self.request(
            "POST", f"/deployments/{deployment_id}/create_flow_run", json={"parameters": parameters}
        )
        return response.json()["id"]

    def flow_run(self, run_id: str) -> dict:
        response = self.request("GET", f"/flow_runs/{run_id}")
        return response.json()

    def runs_of(self, flow_name: str, deployment_name: str) -> list[dict]:
        deployment_id = self.deployment_id(flow_name, deployment_name)
        response = self.request(
            "POST", "/flow_runs/filter", json={"flow_runs": {"deployment_id": {"any_": [deployment_id]}}, "limit": 200}
        )
        return response.json()

    def finished(self, run_id: str, timeout: float = RUN_TIMEOUT) -> dict:
        """Wait for the run to reach a terminal state; return it."""
        return wait_for(
            f"flow run {run_id} to finish",
            lambda: (run := self.flow_run(run_id))["state"]["type"] in TERMINAL and run,
            timeout,
            lambda: f"its state: {self.flow_run(run_id)['state']}\n{self.stack.explain()}",
        )

    def triggered_run(self, flow_name: str, deployment_name: str, matches, timeout: float = RUN_TIMEOUT) -> dict:
        """Wait for a run of the deployment whose parameters satisfy `matches` to finish; return it."""
        found = wait_for(
            f"a run of {flow_name}/{deployment_name} matching the event",
            lambda: next((run for run in self.runs_of(flow_name, deployment_name) if matches(run["parameters"])), None),
            timeout,
            self.stack.explain,
        )
        return self.finished(found["id"], timeout)


def assert_completed(run: dict) -> None:
    assert run["state"]["type"] == "COMPLETED", f"{run['name']}: {run['state']['type']}: {run['state']['message']}"
