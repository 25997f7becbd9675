"""The landing scanner: complete content is announced once, whatever the file holding it is called; half-written
files and lines not yet."""

import gzip
import hashlib
import os
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest
from log_files import log_line, write_log
from prefect import get_client
from prefect.client.schemas.filters import FlowFilter, FlowFilterName
from prefect.settings import PREFECT_API_URL, temporary_settings
from project_code import PROJECT_ROOT

import tasks.core.landing
import tasks.core.streams
from tasks.core.landing import FILE_LANDED, LandingScanner, landed_event, watch
from tasks.core.streams import ROTATED_QUIET_SECONDS

LOG_FILES = ("*.log", "*.log.gz", "*.log.[0-9]*")


def names(landed) -> list[str]:
    return [file.name for file in landed]


def settle(scanner: LandingScanner) -> list[str]:
    """The names announced by two scans: a file that changed is settled at the second."""
    return names(scanner.scan()) + names(scanner.scan())


def content_hash(content: bytes) -> str:
    return hashlib.sha256(content).hexdigest()[:32]


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

    fingerprint = content_hash((log_line() + "\n").encode())  # the hash of its decompressed content
    assert event["event"] == FILE_LANDED
    assert event["resource"]["prefect.resource.id"] == f"batchyard.file.{fingerprint}"
    assert event["payload"] == {
        "pipeline": "access_logs",
        "folder": str(tmp_path.resolve()),
        "name": "a.log.gz",
        "path": str(Path(path).resolve()),
        "size_bytes": path.stat().st_size,
        "fingerprint": fingerprint,
    }


def rename(path: Path) -> None:
    path.rename(path.with_name("a.log.1"))


def copy(path: Path) -> None:
    shutil.copy2(path, path.with_name("copy.log"))


def compress(path: Path) -> None:
    path.with_name("a.log.1.gz").write_bytes(gzip.compress(path.read_bytes()))


@pytest.mark.parametrize("move", [rename, copy, compress], ids=["renamed", "copied", "compressed"])
def test_announced_content_is_not_announced_again_under_another_name(tmp_path, move):
    scanner = LandingScanner(tmp_path, LOG_FILES, "access_logs")
    path = write_log(tmp_path / "a.log", [log_line(), log_line(status="404")])
    assert settle(scanner) == ["a.log"]

    move(path)

    assert settle(scanner) + settle(scanner) == []


def test_a_file_that_grew_by_whole_lines_is_announced_again_with_its_new_content(tmp_path):
    scanner = LandingScanner(tmp_path, LOG_FILES, "access_logs")
    path = write_log(tmp_path / "a.log", [log_line()])
    scanner.scan()
    (first,) = scanner.scan()
    with path.open("a") as more:
        more.write(log_line(status="404") + "\n")

    scanner.scan()
    (grown,) = scanner.scan()

    assert grown.name == "a.log"
    assert grown.fingerprint == content_hash(path.read_bytes()) != first.fingerprint


def test_a_half_written_last_line_is_announced_only_once_complete(tmp_path):
    scanner = LandingScanner(tmp_path, LOG_FILES, "access_logs")
    path = write_log(tmp_path / "a.log", [log_line()])
    assert settle(scanner) == ["a.log"]
    half, rest = log_line(status="404")[:20], log_line(status="404")[20:]
    with path.open("a") as more:
        more.write(half)

    assert settle(scanner) + settle(scanner) == [], "the half line is not content yet"

    with path.open("a") as more:
        more.write(rest + "\n")

    assert settle(scanner) == ["a.log"]


def test_a_file_without_a_whole_line_is_not_announced_until_it_has_one(tmp_path):
    scanner = LandingScanner(tmp_path, LOG_FILES, "access_logs")
    path = tmp_path / "a.log"
    path.write_text(log_line())

    assert settle(scanner) + settle(scanner) == []

    with path.open("a") as more:
        more.write("\n")

    assert settle(scanner) == ["a.log"]


def test_a_rotated_file_announces_the_last_line_its_live_name_held_half_written(tmp_path):
    scanner = LandingScanner(tmp_path, LOG_FILES, "access_logs")
    path = write_log(tmp_path / "a.log", [log_line()])
    with path.open("a") as more:
        more.write(log_line(status="404"))
    assert settle(scanner) == ["a.log"]

    rotated = path.rename(tmp_path / "a.log.1")

    assert settle(scanner) == []  # the server may still be finishing its last line
    long_ago = time.time() - ROTATED_QUIET_SECONDS - 1
    os.utime(rotated, (long_ago, long_ago))
    assert settle(scanner) == ["a.log.1"]  # quiet since: its last line is whole


def test_a_rotated_file_turning_quiet_is_read_again_without_a_change_to_it(tmp_path, monkeypatch):
    scanner = LandingScanner(tmp_path, LOG_FILES, "access_logs")
    path = write_log(tmp_path / "a.log.1", [log_line()])
    with path.open("a") as more:
        more.write(log_line(status="404"))
    assert settle(scanner) == ["a.log.1"]

    monkeypatch.setattr(tasks.core.streams, "ROTATED_QUIET_SECONDS", 0)

    assert settle(scanner) == ["a.log.1"]


def test_a_file_is_read_again_only_when_its_size_time_or_inode_changed(tmp_path, monkeypatch):
    reads = Counter()
    scan_file = tasks.core.landing.scan_file

    def counting_scan_file(path, offsets_for):
        reads[path.name] += 1
        return scan_file(path, offsets_for)

    monkeypatch.setattr(tasks.core.landing, "scan_file", counting_scan_file)
    scanner = LandingScanner(tmp_path, LOG_FILES, "access_logs")
    write_log(tmp_path / "a.log", [log_line()])
    touched = write_log(tmp_path / "b.log", [log_line(client="192.0.2.2")])
    (tmp_path / "c.log").write_text(log_line())  # nothing to announce: still read once only

    for _ in range(5):
        scanner.scan()
    assert reads == {"a.log": 1, "b.log": 1, "c.log": 1}

    os.utime(touched, ns=(1, 1))
    for _ in range(5):
        scanner.scan()
    assert reads == {"a.log": 1, "b.log": 2, "c.log": 1}


def test_an_unreadable_file_is_announced_once_and_does_not_stop_the_others(tmp_path):
    scanner = LandingScanner(tmp_path, LOG_FILES, "access_logs")
    corrupt = tmp_path / "b.log.gz"
    corrupt.write_bytes(gzip.compress((log_line() + "\n").encode())[:-12])  # truncated: its end is missing
    write_log(tmp_path / "a.log", [log_line()])
    write_log(tmp_path / "c.log", [log_line(client="192.0.2.3")])

    landed = scanner.scan() + scanner.scan()

    assert names(landed) == ["a.log", "b.log.gz", "c.log"], "announced, so that its run records it as failed"
    assert landed[1].fingerprint == content_hash(corrupt.read_bytes())  # its bytes as stored
    assert settle(scanner) == []


def test_a_file_that_cannot_be_opened_is_tried_again_and_does_not_stop_the_others(tmp_path, monkeypatch):
    scan_file = tasks.core.landing.scan_file
    locked = {"b.log"}

    def scan_file_or_refuse(path, offsets_for):
        if path.name in locked:
            raise PermissionError(13, "Permission denied", str(path))
        return scan_file(path, offsets_for)

    monkeypatch.setattr(tasks.core.landing, "scan_file", scan_file_or_refuse)
    scanner = LandingScanner(tmp_path, LOG_FILES, "access_logs")
    write_log(tmp_path / "a.log", [log_line()])
    write_log(tmp_path / "b.log", [log_line(client="192.0.2.2")])

    assert settle(scanner) + settle(scanner) == ["a.log"]

    locked.clear()  # e.g. its permissions were set: the file's signature need not change

    assert names(scanner.scan()) == ["b.log"]


def test_ctrl_c_during_an_announcement_stops_after_it_and_counts_what_was_sent(tmp_path, caplog):
    write_log(tmp_path / "a.log", [log_line()])
    write_log(tmp_path / "b.log", [log_line(client="192.0.2.2")])
    sent = []

    def announce_then_ctrl_c(landed):
        sent.append(landed.name)
        os.kill(os.getpid(), signal.SIGINT)  # between the event sent and its count

    scanner = LandingScanner(tmp_path, LOG_FILES, "access_logs")
    with caplog.at_level("INFO", logger="prefect.batchyard.landing"):
        announced = watch([scanner], announce_then_ctrl_c, interval_seconds=0, scans=None)

    assert announced == len(sent) == 1
    assert "stopped (Ctrl-C) after 2 scan(s), 1 file(s) announced" in caplog.text  # a file settles in two
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # the usual Ctrl-C again


def test_a_second_ctrl_c_interrupts_a_stuck_watcher(tmp_path):
    write_log(tmp_path / "a.log", [log_line()])

    def stuck_announce(landed):
        os.kill(os.getpid(), signal.SIGINT)  # asks to stop after this announcement
        os.kill(os.getpid(), signal.SIGINT)  # insists

    with pytest.raises(KeyboardInterrupt):
        watch([LandingScanner(tmp_path, LOG_FILES, "access_logs")], stuck_announce, interval_seconds=0, scans=None)
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


@pytest.mark.usefixtures("prefect_server")
def test_the_watcher_flow_emits_one_event_per_landed_file(tmp_path, monkeypatch):
    import flows.landing_watcher

    sent = []
    monkeypatch.setattr(flows.landing_watcher, "emit_event", lambda **event: sent.append(event))
    write_log(tmp_path / "a.log", [log_line()])
    write_log(tmp_path / "b.log.gz", [log_line(client="192.0.2.2")])  # another content: a copy is not announced

    announced = flows.landing_watcher.landing_watcher(landing=tmp_path, interval_seconds=0, scans=3)

    assert announced == 2
    assert sorted(event["payload"]["name"] for event in sent) == ["a.log", "b.log.gz"]
    assert {event["event"] for event in sent} == {FILE_LANDED}


def test_the_watcher_command_refuses_to_run_without_a_server():
    import flows.landing_watcher

    with temporary_settings(restore_defaults={PREFECT_API_URL}):
        assert flows.landing_watcher.main(["--landing", "."]) == 2


@pytest.mark.slow
@pytest.mark.usefixtures("prefect_server")
def test_a_watcher_stopped_by_ctrl_c_ends_completed_without_a_traceback(tmp_path):
    write_log(tmp_path / "a.log", [log_line()])
    watcher = subprocess.Popen(
        [sys.executable, "flows/landing_watcher.py", "--landing", str(tmp_path), "--interval", "0.2"],
        cwd=PROJECT_ROOT,
        env={**os.environ, "PREFECT_API_URL": PREFECT_API_URL.value()},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    said = []
    for line in watcher.stdout:  # until it announced the file: it is watching
        said.append(line)
        if "a.log landed" in line:
            break
    watcher.send_signal(signal.SIGINT)
    said += watcher.stdout.readlines()

    assert watcher.wait(timeout=60) == 0, "".join(said)
    output = "".join(said)
    assert "Traceback" not in output and "Crashed" not in output, output
    assert "stopped (Ctrl-C) after" in output and "1 file(s) announced" in output, output
    with get_client(sync_client=True) as client:
        runs = client.read_flow_runs(flow_filter=FlowFilter(name=FlowFilterName(any_=["landing-watcher"])))
    run_name = next(line for line in said if "Beginning flow run" in line).split("'")[1]
    stopped = next(run for run in runs if run.name == run_name)
    assert stopped.state.is_completed(), stopped.state
