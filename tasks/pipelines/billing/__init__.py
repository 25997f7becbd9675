"""Billing: usage, plans and subscriptions exports into rated usage, monthly invoices and their documents."""
