"""Rendering pages of the local Prefect UI in headless Chromium, for end-to-end tests.

Chromium comes from Debian's `chromium` package (/usr/bin/chromium); CI installs it before running pytest. There is
no fallback and no skip: a missing or failing browser is a test failure that names the command.

The Prefect UI is a single-page app, so the HTML the server sends holds no data; Chromium's `--dump-dom` prints the DOM
after the app has fetched from the API and rendered, as long as `--virtual-time-budget` is given. Virtual time stands
still while requests are in flight, so the budget is not a wall-clock wait: a 5000 ms budget returns in about 1.5 s
on a 2-core machine, and the result is the same run after run. Without a budget Chromium dumps the empty shell
(only the title "Prefect Server").

The UI asks `GET /ui-settings` which API to call, and the server answers with PREFECT_UI_API_URL, else PREFECT_API_URL,
else http://<PREFECT_SERVER_API_HOST>:<PREFECT_SERVER_API_PORT>/api. `prefect server start --port N` alone does not
change that answer (it stays port 4200), so start a server on another port with PREFECT_UI_API_URL set to its own
API, or the page shows "Can't connect to Server API" instead of the data.
"""

import contextlib
import os
import shutil
import signal
import subprocess
import tempfile
from html.parser import HTMLParser
from pathlib import Path

CHROMIUM = shutil.which("chromium")

# Running as root needs --no-sandbox. The machine has no network beyond localhost and package registries: without the
# background-networking flags Chromium keeps opening connections that are refused and can hang at start-up.
# --disable-dev-shm-usage keeps shared memory in /tmp, as a small /dev/shm in a container would crash the renderer.
HEADLESS_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    "--hide-scrollbars",
)

# Prefect's tables put schedules in a tag row that hides what doesn't fit behind a "+1" badge. At 1400 px wide the
# deployments page's schedule is hidden that way (still in the DOM, not in the screenshot); at 1920 px it is shown.
DEFAULT_WINDOW_SIZE = (1920, 1080)

# Skipped by visible_text: their content is code or markup, never text on the screen.
NON_TEXT_ELEMENTS = frozenset({"script", "style", "template", "noscript", "svg"})


def render_page(
    url: str,
    screenshot: Path,
    timeout_seconds: float = 60,
    virtual_time_budget_ms: int = 5000,
    window_size: tuple[int, int] = DEFAULT_WINDOW_SIZE,
) -> str:
    """Load `url` in a fresh headless Chromium, save a PNG of the window to `screenshot`, and return the rendered DOM.

    Each call uses a new empty profile, so no cookie, cache or saved UI preference carries over between calls.
    Raises AssertionError naming the command, exit code and end of stderr if Chromium is missing, fails, runs past
    `timeout_seconds`, or writes no screenshot.
    """
    if CHROMIUM is None:
        raise AssertionError(
            "chromium is not on PATH; install it with "
            "`DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends chromium`"
        )
    screenshot = Path(screenshot).resolve()
    screenshot.parent.mkdir(parents=True, exist_ok=True)
    screenshot.unlink(missing_ok=True)
    width, height = window_size
    # Chromium may still be writing to its profile as it exits, so cleanup errors must not hide the real outcome.
    with tempfile.TemporaryDirectory(prefix="batchyard-chromium-", ignore_cleanup_errors=True) as profile:
        command = [
            CHROMIUM,
            *HEADLESS_FLAGS,
            f"--user-data-dir={profile}",
            f"--window-size={width},{height}",
            f"--virtual-time-budget={virtual_time_budget_ms}",
            f"--screenshot={screenshot}",
            "--dump-dom",
            url,
        ]
        exit_code, dom, stderr = _run_bounded(command, timeout_seconds)
    if exit_code != 0:
        raise AssertionError(_failure(command, f"exited with code {exit_code}", stderr))
    if not screenshot.is_file() or screenshot.stat().st_size == 0:
        raise AssertionError(_failure(command, f"exited with code 0 but wrote no screenshot at {screenshot}", stderr))
    if not dom.strip():
        raise AssertionError(_failure(command, "exited with code 0 but printed no DOM", stderr))
    return dom


def _run_bounded(command: list[str], timeout_seconds: float) -> tuple[int, str, str]:
    """Run `command` and return (exit code, stdout, stderr); on timeout kill it with all its children and fail.

    Chromium starts renderer and helper processes of its own: killing only the main process could leave them running
    after the test, so the command gets its own process group and the whole group is killed.
    """
    process = subprocess.Popen(
        command,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        errors="replace",
        start_new_session=True,
    )
    try:
        stdout, stderr = process.communicate(timeout=timeout_seconds)
    except subprocess.TimeoutExpired:
        _kill_group(process)
        stdout, stderr = process.communicate()
        raise AssertionError(_failure(command, f"did not finish within {timeout_seconds} s", stderr)) from None
    # Chromium has exited; a helper it left behind must not outlive the test either.
    _kill_group(process)
    return process.returncode, stdout, stderr


def _kill_group(process: subprocess.Popen) -> None:
    # The group is gone once Chromium and every helper it started have exited.
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)


def _failure(command: list[str], what_happened: str, stderr: str, tail_lines: int = 20) -> str:
    # Chromium logs harmless D-Bus errors on every start here; the lines that explain a failure come last.
    stderr_tail = "\n".join(stderr.strip().splitlines()[-tail_lines:])
    return (
        f"Chromium {what_happened}.\ncommand: {subprocess.list2cmdline(command)}\nstderr (last lines):\n{stderr_tail}"
    )


class _TextCollector(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.chunks: list[str] = []
        self._non_text_depth = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in NON_TEXT_ELEMENTS:
            self._non_text_depth += 1

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        # A self-closed <svg/> or <path/> opens nothing, so it must not count as entering a non-text element.
        pass

    def handle_endtag(self, tag: str) -> None:
        if tag in NON_TEXT_ELEMENTS and self._non_text_depth > 0:
            self._non_text_depth -= 1

    def handle_data(self, data: str) -> None:
        text = " ".join(data.split())
        if text and self._non_text_depth == 0:
            self.chunks.append(text)


def visible_text(dom: str) -> str:
    """The text nodes of `dom`, one a line, whitespace collapsed, without scripts, styles and SVG.

    CSS is not applied, so text that the page hides with a class (such as a schedule tag overflowing behind "+1")
    is still included; only the screenshot shows what a user would see.
    """
    collector = _TextCollector()
    collector.feed(dom)
    collector.close()
    return "\n".join(collector.chunks)
