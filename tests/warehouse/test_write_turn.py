import threading
from contextlib import contextmanager

import pytest

from tasks.warehouse import connection
from tasks.warehouse.connection import EarlyWriteTurn


class FakeServerTurn:
    """The server's write turn, granted when the test says so."""

    def __init__(self, error: Exception | None = None):
        self.asked = threading.Event()
        self.grant = threading.Event()
        self.events: list[str] = []
        self.error = error

    @contextmanager
    def __call__(self, scope: str):
        assert scope == "per-run"
        self.asked.set()
        self.grant.wait()
        if self.error is not None:
            raise self.error
        self.events.append("granted")
        try:
            yield
        finally:
            self.events.append("released")


def test_the_write_turn_is_asked_for_when_the_run_starts_and_held_only_around_the_loads(monkeypatch):
    turn = FakeServerTurn()
    monkeypatch.setattr(connection, "write_turn_for", turn)

    with EarlyWriteTurn() as write_turn:
        assert turn.asked.wait(5)  # asked at once, while the run goes on (discovery, staging)
        assert turn.events == []
        turn.grant.set()
        with write_turn.held():
            assert turn.events == ["granted"]
        assert turn.events == ["granted", "released"]  # given back as the loads end, not when the run does
    assert turn.events == ["granted", "released"]


def test_a_run_that_fails_before_its_loads_gives_the_turn_back(monkeypatch):
    turn = FakeServerTurn()
    monkeypatch.setattr(connection, "write_turn_for", turn)
    turn.grant.set()

    with pytest.raises(RuntimeError, match="discovery failed"), EarlyWriteTurn():
        assert turn.asked.wait(5)
        raise RuntimeError("discovery failed")
    assert turn.events == ["granted", "released"]


def test_a_turn_that_cannot_be_taken_fails_the_load_phase_with_the_servers_error(monkeypatch):
    turn = FakeServerTurn(error=ConnectionError("server unreachable"))
    monkeypatch.setattr(connection, "write_turn_for", turn)
    turn.grant.set()

    with (
        EarlyWriteTurn() as write_turn,
        pytest.raises(ConnectionError, match="server unreachable"),
        write_turn.held(),
    ):
        pytest.fail("the loads ran without the turn")


def test_a_run_failing_while_its_turn_also_failed_shows_its_own_error(monkeypatch):
    turn = FakeServerTurn(error=ConnectionError("server unreachable"))
    monkeypatch.setattr(connection, "write_turn_for", turn)
    turn.grant.set()

    with pytest.raises(RuntimeError, match="discovery failed"), EarlyWriteTurn():
        assert turn.asked.wait(5)
        raise RuntimeError("discovery failed")
