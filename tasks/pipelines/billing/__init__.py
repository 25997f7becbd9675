"""Billing: usage, plans and subscriptions exports into rated usage, monthly invoices and their documents."""

from tasks.core.settings import DATA_DIR

SAMPLE = DATA_DIR / "sample_billing"  # the bundled sample folder: the flow's default source
