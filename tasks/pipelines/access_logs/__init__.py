"""Access logs: web-server logs (combined log format), loaded as append-only streams into logs.requests, with
per-day marts and visitor sessions."""
