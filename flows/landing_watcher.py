"""Landing watcher: announces each complete new or changed log file in the landing folder as a Prefect event,
`batchyard.file.landed`, so that an event-triggered deployment loads it.

    PREFECT_API_URL=http://127.0.0.1:4200/api python flows/landing_watcher.py --landing DIR

Needs a Prefect server: events sent to Prefect's temporary server would reach nobody.
"""

import argparse
from pathlib import Path

from tasks.core.settings import LANDING, SCAN_SECONDS
from tasks.kit.arguments import answer_early, description, seconds_between_scans


def command_line() -> argparse.ArgumentParser:
    """The command's arguments, built before the imports below: --help and a mistyped argument answer at once."""
    parser = argparse.ArgumentParser(description=description(__doc__))
    parser.add_argument("--landing", type=Path, default=LANDING, help="folder to watch")
    parser.add_argument("--interval", type=seconds_between_scans, default=SCAN_SECONDS, help="seconds between scans")
    return parser


answer_early(__name__, command_line)


from prefect import flow
from prefect.events import emit_event
from prefect.logging import get_run_logger
from prefect.settings import PREFECT_API_URL

from tasks.core.landing import LandedFile, LandingScanner, landed_event, watch
from tasks.kit.cli import CommandRefused, exit_process, parse_command_line, refuse, refuse_bad_settings
from tasks.kit.discovery import SourceUnavailable, check_source
from tasks.pipelines import landings


@refuse_bad_settings
@flow(name="landing-watcher")
def landing_watcher(landing: Path = LANDING, interval_seconds: float = SCAN_SECONDS, scans: int | None = None) -> int:
    """Watch `landing` and emit one event per file that landed complete (forever, or for `scans` scans).

    Args:
        landing: The folder to watch (a relative path is in the project folder).
        interval_seconds: Seconds between two scans of the folder.
        scans: Scans before the watch ends; empty: watch until stopped.
    """
    check_source(landing)
    logger = get_run_logger()

    def announce(landed: LandedFile) -> None:
        emit_event(**landed_event(landed))
        logger.info("%s landed (%s bytes): event sent", landed.path, f"{landed.size_bytes:,}")

    scanners = [LandingScanner(landing, claim.patterns, claim.pipeline) for claim in landings()]
    return watch(scanners, announce, interval_seconds, scans)


def parse_arguments(argv: list[str] | None = None) -> argparse.Namespace:
    """The command line, checked with the settings and the Prefect server: anything bad stops it with one line and
    exit code 2, before anything is announced."""
    parser = command_line()
    args = parse_command_line(parser, argv, landing_watcher.name)
    if not PREFECT_API_URL.value():
        refuse(landing_watcher.name, "set PREFECT_API_URL to a running Prefect server")
    try:
        check_source(args.landing)
    except (SourceUnavailable, ValueError) as error:  # ValueError: a NUL in the path
        refuse(landing_watcher.name, error)
    return args


def main(argv: list[str] | None = None) -> int:
    try:
        args = parse_arguments(argv)
    except CommandRefused as refused:
        return refused.say()
    landing_watcher(landing=args.landing, interval_seconds=args.interval)
    return 0


if __name__ == "__main__":
    exit_process(main())
