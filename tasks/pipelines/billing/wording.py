"""How an invoice words its numbers and lines for a customer: money with the currency's minor units, metrics by
their names, and price tiers as a price list reads ("first 10,000", "over 10,000"). Pure functions; the invoice
template (templates/invoice.html) shows what they return."""

from decimal import Decimal

# Metric ids as the usage exports write them -> what an invoice calls them. A metric missing here reads as its id
# with spaces (see metric_name), so a new metric never shows a raw id; add it here to name it properly.
METRIC_NAMES = {
    "api_calls": "API calls",
    "storage_gb": "Storage (GB)",
    "gpu_hours": "GPU hours",
}


def metric_name(metric: str | None) -> str:
    """`api_calls` -> "API calls"; an id not in METRIC_NAMES -> its words, the first capitalised (`egress_gb` ->
    "Egress gb")."""
    if not metric:
        return ""
    return METRIC_NAMES.get(metric) or metric.replace("_", " ").strip().capitalize()


def money(amount: Decimal, exponent: int) -> str:
    """An amount with exactly the currency's decimals (ISO 4217 minor unit), thousands separated: 12.5 EUR -> 12.50,
    1200 JPY -> 1,200, 0.013 KWD -> 0.013. Amounts are already rounded to the minor unit; this never rounds them
    again, it only pads."""
    return f"{amount.quantize(Decimal(1).scaleb(-exponent)):,.{exponent}f}"


def unit_price(price: Decimal, exponent: int) -> str:
    """A unit price with at least the currency's decimals, more when the price has them: 12.5 EUR -> 12.50, 0.0025
    EUR -> 0.0025, 3 JPY -> 3, 0.5 JPY -> 0.5."""
    decimals = max(exponent, -price.normalize().as_tuple().exponent)
    return f"{price:,.{decimals}f}"


def quantity(value: Decimal) -> str:
    """A quantity as a person writes it: thousands separated, no trailing zeros (10000.000000 -> 10,000)."""
    normalized = value.normalize()
    decimals = max(0, -normalized.as_tuple().exponent)
    return f"{value:,.{decimals}f}"


def tier_wording(tier_from: Decimal | None, tier_to: Decimal | None, tiers: int | None) -> str:
    """Which part of the billable usage a tier line charges: nothing for a metric with a single open tier (its price is
    simply the unit price), else "first 10,000", "over 10,000 up to 20,000" or "over 20,000". The bounds are of
    the usage beyond the included quantity."""
    if tiers is None or tiers <= 1 or tier_from is None:
        return ""
    if tier_to is None:
        return f"over {quantity(tier_from)}"
    if tier_from == 0:
        return f"first {quantity(tier_to)}"
    return f"over {quantity(tier_from)} up to {quantity(tier_to)}"


def line_description(line: dict) -> str:
    """A line of an invoice as the customer reads it, from its stored fields (see billing.invoice_lines). Lines issued
    before the tier columns existed keep their stored description, with the metric named."""
    kind, metric, plan = line["kind"], line.get("metric"), line.get("plan_id")
    named = metric_name(metric)
    if kind == "adjustment":
        return f"Usage adjustment for {line['for_period']}: {named}"
    if plan is None:  # issued before invoices stored their plans and tiers
        stored = line["description"]
        return stored.replace(metric, named, 1) if metric else stored[:1].upper() + stored[1:]
    if kind == "base_fee":
        return line["description"][:1].upper() + line["description"][1:]
    if line.get("unit_price") is None:
        return f"{named} included in plan {plan}"
    included = line.get("included") or Decimal(0)
    parts = [f"{named}, plan {plan}"]
    if included > 0:
        parts.append(f"beyond the {quantity(included)} included")
    tier = tier_wording(line.get("tier_from"), line.get("tier_to"), line.get("tiers"))
    if tier:
        parts.append(tier)
    return ", ".join(parts)
