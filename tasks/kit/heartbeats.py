"""Flow runs end when their work ends, not at their heartbeat thread's next second.

Prefect sends a flow run's heartbeats (a server's way of noticing crashed runs) from a thread that sleeps in
one-second steps, and its synchronous engine joins that thread as the run ends (`prefect.flow_engine._send_heartbeats`,
3.9): every run against a server ended 0 to 1 s after its work, 0.5 s on average, a fifth of a re-run with nothing
new, and its wall time came in whole seconds (docs/performance.md). Prefect's asynchronous engine does not join it: the
daemon thread sees the stop at its next step and ends by itself. `end_runs_without_joining_heartbeats` gives the
synchronous engine the same ending. Heartbeats are sent as before."""

from contextlib import AbstractContextManager

from prefect import flow_engine

_prefect_heartbeats = flow_engine._send_heartbeats


def _heartbeats_not_joined(engine: object, join_on_exit: bool = True) -> AbstractContextManager[None]:
    return _prefect_heartbeats(engine, join_on_exit=False)


def end_runs_without_joining_heartbeats() -> None:
    """From now on, in this process (run by every flow's module as it is imported, so worker-started runs too)."""
    flow_engine._send_heartbeats = _heartbeats_not_joined
