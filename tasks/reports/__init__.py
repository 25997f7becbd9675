"""The periodic HTML report over the warehouse's marts: its figures, charts and page. It reads pipelines' tables
through SQL and imports no pipeline."""

PERIOD_KINDS = ("daily", "weekly", "monthly")
