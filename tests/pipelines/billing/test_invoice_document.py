"""The invoice as a customer reads it (issue 18, point 9): the wording of money, metrics and tiers on small
hand-made values; tax, due date and the customer's name and address on a month computed on paper; and the document
as headless Chromium draws it, screenshot kept under test-artifacts/."""

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from browser import render_page, visible_text
from sales_exports import load_exports, write_export
from warehouse_snapshot import query

from tasks.core.settings import PROJECT_ROOT, SELLER_NAME, SELLER_TAX_ID, _tax_rate
from tasks.pipelines.billing.invoicing import InvoiceTerms, issue_invoices, parse_period, write_invoice_documents
from tasks.pipelines.billing.source import BILLING_EXPORTS
from tasks.pipelines.billing.wording import line_description, metric_name, money, quantity, tier_wording, unit_price
from tasks.warehouse.connection import open_warehouse

SCREENSHOTS = PROJECT_ROOT / "test-artifacts"
D = Decimal


# ----------------------------------------------------------------------------------------------------------------------
# Wording


@pytest.mark.parametrize(
    ("metric", "name"),
    [("api_calls", "API calls"), ("gpu_hours", "GPU hours"), ("egress_gb", "Egress gb"), (None, "")],
    ids=["named", "named acronym", "unknown id: its words", "none"],
)
def test_metrics_read_as_names(metric, name):
    assert metric_name(metric) == name


@pytest.mark.parametrize(
    ("amount", "exponent", "shown"),
    [
        (D("12.5"), 2, "12.50"),
        (D("1234.500"), 2, "1,234.50"),
        (D("2202.000"), 0, "2,202"),
        (D("0.013"), 3, "0.013"),
        (D("0.000"), 2, "0.00"),
    ],
    ids=["EUR pads", "thousands", "JPY whole", "KWD three", "zero"],
)
def test_money_has_exactly_the_currencys_decimals(amount, exponent, shown):
    assert money(amount, exponent) == shown


@pytest.mark.parametrize(
    ("price", "exponent", "shown"),
    [
        (D("12.500000"), 2, "12.50"),
        (D("0.002500"), 2, "0.0025"),
        (D("3100.000000"), 0, "3,100"),
        (D("0.500000"), 0, "0.5"),
        (D("0.875000"), 3, "0.875"),
    ],
    ids=["EUR pads", "finer than a cent", "JPY", "JPY fraction", "KWD"],
)
def test_unit_prices_have_at_least_the_currencys_decimals(price, exponent, shown):
    assert unit_price(price, exponent) == shown


def test_quantities_drop_trailing_zeros():
    assert [quantity(D(text)) for text in ("10000.000000", "7.810543", "50.500000", "0.000000")] == [
        "10,000",
        "7.810543",
        "50.5",
        "0",
    ]


@pytest.mark.parametrize(
    ("tier_from", "tier_to", "tiers", "wording"),
    [
        (D(0), None, 1, ""),
        (D(0), D(1000), 2, "first 1,000"),
        (D(1000), None, 2, "over 1,000"),
        (D(100), D(200), 3, "over 100 up to 200"),
        (None, None, None, ""),
    ],
    ids=["single open tier: no wording", "first", "last", "middle", "no tier"],
)
def test_tiers_read_as_a_price_list(tier_from, tier_to, tiers, wording):
    assert tier_wording(tier_from, tier_to, tiers) == wording


def line(**fields) -> dict:
    row = {"kind": "usage", "metric": "api_calls", "plan_id": "pro", "for_period": "2026-10", "description": "stored"}
    row |= {"unit_price": D("0.01"), "included": D(0), "tier_from": None, "tier_to": None, "tiers": None}
    return row | fields


@pytest.mark.parametrize(
    ("fields", "wording"),
    [
        ({"tier_from": D(0), "tiers": 1}, "API calls, plan pro"),
        (
            {"included": D(1000), "tier_from": D(0), "tier_to": D(10000), "tiers": 2},
            "API calls, plan pro, beyond the 1,000 included, first 10,000",
        ),
        (
            {"included": D(1000), "tier_from": D(10000), "tiers": 2},
            "API calls, plan pro, beyond the 1,000 included, over 10,000",
        ),
        ({"unit_price": None, "included": D(1000), "tiers": 2}, "API calls included in plan pro"),
        ({"kind": "adjustment", "plan_id": None, "for_period": "2026-09"}, "Usage adjustment for 2026-09: API calls"),
        (
            {
                "kind": "base_fee",
                "metric": None,
                "description": "base fee, plan pro, 2026-10-01 to 2026-10-31 (31/31 days)",
            },
            "Base fee, plan pro, 2026-10-01 to 2026-10-31 (31/31 days)",
        ),
        (
            {"plan_id": None, "description": "api_calls, plan pro, tier 1 (over 0)"},
            "API calls, plan pro, tier 1 (over 0)",
        ),
    ],
    ids=["single open tier", "first tier", "last tier", "included", "adjustment", "base fee", "issued before"],
)
def test_invoice_lines_read_in_words(fields, wording):
    assert line_description(line(**fields)) == wording


@pytest.mark.parametrize(
    ("text", "rate"), [("0", D(0)), ("20", D(20)), (" 7.5 ", D("7.5")), ("12.3456", D("12.3456"))], ids=str
)
def test_a_tax_rate_is_an_exact_percentage(text, rate):
    assert _tax_rate(text) == rate


@pytest.mark.parametrize("text", ["-1", "101", "0.12345", "nan", "twenty", ""], ids=repr)
def test_a_tax_rate_outside_0_to_100_or_too_precise_is_refused(text):
    with pytest.raises(ValueError, match="percentage from 0 to 100"):
        _tax_rate(text)


# ----------------------------------------------------------------------------------------------------------------------
# A month on paper, with tax and names


PLANS = ["plan_id", "currency", "base_fee", "metric", "included", "up_to", "unit_price"]
SUBSCRIPTIONS = ["customer_id", "plan_id", "start_date", "end_date", "customer_name", "customer_address"]
USAGE = ["event_id", "customer_id", "metric", "quantity", "ts"]
ISSUED_AT = datetime(2026, 11, 1, 3, tzinfo=UTC)
TERMS = InvoiceTerms(tax_rate_percent=D("12.5"), payment_terms_days=14)


def month_with_names(folder):
    return [
        write_export(
            folder,
            "plans_2026-09-01.csv",
            [
                ["pro", "EUR", "31.00", "api_calls", "1000", "10000", "0.01"],
                ["pro", "EUR", "31.00", "api_calls", "1000", "", "0.005"],
                ["jp", "JPY", "3100", "api_calls", "0", "", "0.5"],
            ],
            header=PLANS,
        ),
        write_export(
            folder,
            "subscriptions_2026-10-01.csv",
            [
                ["c1", "pro", "2026-01-01", "", "Acme Analytics SARL", "12 Rue de la Paix, 75002 Paris, France"],
                ["c3", "jp", "2026-10-10", "", "", ""],  # no name or address on file
                ["c4", "pro", "2026-01-01", "", "x" * 201, ""],  # a name longer than 200 characters: rejected
            ],
            header=SUBSCRIPTIONS,
        ),
        write_export(
            folder,
            "usage_2026-10-31.csv",
            [
                ["e1", "c1", "api_calls", "15000", "2026-10-05T10:00:00Z"],
                ["e3", "c3", "api_calls", "3", "2026-10-20T10:00:00+09:00"],
            ],
            header=USAGE,
        ),
    ]


@pytest.fixture(scope="module")
def invoiced(tmp_path_factory):
    """The month above, invoiced at 12.5% tax, net 14, and its documents written."""
    folder = tmp_path_factory.mktemp("invoice-document")
    warehouse = folder / "warehouse.duckdb"
    load_exports(month_with_names(folder / "landing"), warehouse, family=BILLING_EXPORTS)
    with open_warehouse(warehouse) as connection:
        issue_invoices(connection, parse_period("2026-10"), ISSUED_AT, None, TERMS)
        documents = write_invoice_documents(connection, parse_period("2026-10"), folder / "invoices")
    return warehouse, documents


def test_tax_due_date_and_customer_are_kept_on_the_invoice(invoiced):
    warehouse, _ = invoiced
    assert query(
        warehouse,
        "select invoice_id, customer_id, customer_name, customer_address, subtotal, tax_rate, tax, total, "
        "payment_terms_days, due_date from billing.invoices order by invoice_id",
    ) == [
        # c1: 31.00 + 10000 × 0.01 + 4000 × 0.005 = 151.00; tax 12.5% = 18.875, half away from zero 18.88
        (
            "INV-202610-000001",
            "c1",
            "Acme Analytics SARL",
            "12 Rue de la Paix, 75002 Paris, France",
            D("151.000"),
            D("12.5000"),
            D("18.880"),
            D("169.880"),
            14,
            date(2026, 11, 15),
        ),
        # c3: JPY 3100 × 22/31 = 2200 + 3 × 0.5 = 1.5 -> 2: 2202; tax 275.25 -> 275 (no decimals in JPY)
        (
            "INV-202610-000002",
            "c3",
            None,
            None,
            D("2202.000"),
            D("12.5000"),
            D("275.000"),
            D("2477.000"),
            14,
            date(2026, 11, 15),
        ),
    ]
    # c4's only row was rejected for its name, with the reason; rows in = loaded + rejected
    assert query(warehouse, "select reason from meta.rejects where source like '%subscriptions%'") == [
        ("customer_name: longer than 200 characters",)
    ]


def test_the_invoice_in_chromium_shows_what_a_customer_needs(invoiced):
    _, documents = invoiced
    texts = {}
    for document in documents:
        screenshot = SCREENSHOTS / f"invoice-{document.stem}.png"
        texts[document.stem] = visible_text(render_page(document.as_uri(), screenshot, window_size=(1000, 1100)))
        assert screenshot.stat().st_size > 10_000, screenshot
    eur, jpy = texts["INV-202610-000001"], texts["INV-202610-000002"]
    for shown in (
        SELLER_NAME,
        f"Tax ID {SELLER_TAX_ID}",
        "Bill to",
        "Acme Analytics SARL",
        "12 Rue de la Paix, 75002 Paris, France",
        "Issue date\n2026-11-01",
        "Due date\n2026-11-15",
        "net 14 days",
        "Subtotal\n151.00",
        "Tax (12.5%)\n18.88",
        "Total due\n169.88 EUR",
        "\n31.00\n31.00\n",  # the base fee's unit price and amount with the euro's two decimals
        "API calls, plan pro, beyond the 1,000 included, first 10,000\n10,000\n0.01\n100.00",
        "API calls, plan pro, beyond the 1,000 included, over 10,000\n4,000\n0.005\n20.00",
        "Please pay 169.88 EUR by 2026-11-15",
    ):
        assert shown in eur, f"{shown!r} not on the EUR invoice:\n{eur}"
    for shown in (
        "c3\n(no address on file) (no customer name on file)",
        "API calls, plan jp\n3\n0.5\n2\n",
        "Tax (12.5%)\n275",
        "Total due\n2,477 JPY",
    ):
        assert shown in jpy, f"{shown!r} not on the JPY invoice:\n{jpy}"
    for text in texts.values():
        assert "api_calls" not in text and "tier 1" not in text and "over 0" not in text, text
