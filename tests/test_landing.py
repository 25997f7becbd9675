"""The landing scanner: complete files are announced once per content, half-written ones not yet."""

import os
from pathlib import Path

import pytest
from log_files import log_line, write_log
from prefect.settings import PREFECT_API_URL, temporary_settings

from tasks.batches import fingerprint_file
from tasks.landing import FILE_LANDED, LandingScanner, landed_event

LOG_FILES = ("*.log", "*.log.gz")


def names(landed) -> list[str]:
    return [file.name for file in landed]


def test_a_file_is_announced_once_it_held_still_for_a_scan_and_only_once(tmp_path):
    scanner = LandingScanner(tmp_path, LOG_FILES, "access_logs")
    write_log(tmp_path / "a.log", [log_line()])
    (tmp_path / "notes.txt").write_text("not a log")

    assert names(scanner.scan()) == [], "first sight: it may still be being written"
    assert names(scanner.scan()) == ["a.log"]
    assert names(scanner.scan()) == []


def test_a_file_still_growing_waits_and_a_rewritten_file_is_announced_again(tmp_path):
    scanner = LandingScanner(tmp_path, LOG_FILES, "access_logs")
    growing = write_log(tmp_path / "a.log", [log_line()])
    scanner.scan()
    with growing.open("a") as more:
        more.write(log_line(status="404") + "\n")

    assert names(scanner.scan()) == [], "it grew since the last scan"
    assert names(scanner.scan()) == ["a.log"]

    write_log(growing, [log_line(status="500")])
    os.utime(growing, ns=(1, 1))
    scanner.scan()
    assert names(scanner.scan()) == ["a.log"], "new content, announced again"


def test_files_landing_in_a_burst_are_each_announced_once(tmp_path):
    scanner = LandingScanner(tmp_path, LOG_FILES, "access_logs")
    for number in range(20):
        write_log(tmp_path / f"burst-{number:02d}.log", [log_line(client=f"192.0.2.{number}")])

    announced = names(scanner.scan()) + names(scanner.scan()) + names(scanner.scan())

    assert sorted(announced) == [f"burst-{number:02d}.log" for number in range(20)]


def test_the_event_carries_what_a_deployment_needs_to_load_the_file(tmp_path):
    scanner = LandingScanner(tmp_path, LOG_FILES, "access_logs")
    path = write_log(tmp_path / "a.log.gz", [log_line()])
    scanner.scan()
    (landed,) = scanner.scan()

    event = landed_event(landed)

    assert event["event"] == FILE_LANDED
    assert event["resource"]["prefect.resource.id"] == f"batchyard.file.{fingerprint_file(path)}"
    assert event["payload"] == {
        "pipeline": "access_logs",
        "folder": str(tmp_path.resolve()),
        "name": "a.log.gz",
        "path": str(Path(path).resolve()),
        "size_bytes": path.stat().st_size,
        "fingerprint": fingerprint_file(path),
    }


@pytest.mark.usefixtures("prefect_server")
def test_the_watcher_flow_emits_one_event_per_landed_file(tmp_path, monkeypatch):
    import flows.landing_watcher

    sent = []
    monkeypatch.setattr(flows.landing_watcher, "emit_event", lambda **event: sent.append(event))
    write_log(tmp_path / "a.log", [log_line()])
    write_log(tmp_path / "b.log.gz", [log_line()])

    announced = flows.landing_watcher.landing_watcher(landing=tmp_path, interval_seconds=0, scans=3)

    assert announced == 2
    assert sorted(event["payload"]["name"] for event in sent) == ["a.log", "b.log.gz"]
    assert {event["event"] for event in sent} == {FILE_LANDED}


def test_the_watcher_command_refuses_to_run_without_a_server():
    import flows.landing_watcher

    with temporary_settings(restore_defaults={PREFECT_API_URL}):
        assert flows.landing_watcher.main(["--landing", "."]) == 2
