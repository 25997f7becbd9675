"""Access logs: web-server logs (combined log format), loaded as append-only streams into logs.requests, with
per-day marts and visitor sessions."""

from tasks.core.settings import DATA_DIR

SAMPLE = DATA_DIR / "sample_logs"  # the bundled sample folder: the flow's default source

# Access logs as web servers and logrotate name them: access.log, access.log.1, access.log.2.gz,
# access.log-20261201(.gz), Apache's access_log; error logs only when a run's patterns ask for them.
ACCESS_LOG_FILES = (
    "*.log",
    "*.log.gz",
    "*.log.[0-9]*",
    "*.log-[0-9]*",
    "*_log",
    "*_log.[0-9]*",
    "*_log-[0-9]*",
    "!*error*",
)
