"""Access logs: web-server logs (combined log format), loaded as append-only streams into logs.requests, with
per-day marts and visitor sessions."""

from tasks.core.settings import DATA_DIR

SAMPLE = DATA_DIR / "sample_logs"  # the bundled sample folder: the flow's default source
