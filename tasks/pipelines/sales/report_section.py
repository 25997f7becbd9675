"""The sales section of the periodic report: revenue and customers. Its queries and page fragment are in report/
beside this module."""

from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from pathlib import Path

from tasks.pipelines.sales.source import PIPELINE
from tasks.reports.charts import Series, bar_chart, format_value
from tasks.reports.report import ReportPeriod, ReportSection, SectionQueries, money


@dataclass(frozen=True)
class CurrencyRevenue:
    currency: str
    orders: int
    items: int
    revenue: Decimal
    revenue_usd: Decimal | None


@dataclass(frozen=True)
class Sales:
    """From sales.daily_revenue (days: day, orders, revenue_usd; currencies), sales.customer_lifetime (new customers)
    and sales.fact_orders (active customers)."""

    days: list[tuple[date, int, Decimal | None]]
    currencies: list[CurrencyRevenue]
    new_customers: int
    active_customers: int

    @property
    def orders(self) -> int:
        return sum(orders for _, orders, _ in self.days)

    @property
    def revenue_usd(self) -> Decimal | None:
        """The period's USD revenue; unknown while any day lacks a rate."""
        values = [revenue for _, _, revenue in self.days]
        return None if None in values else sum(values, Decimal(0))


def read_sales(queries: SectionQueries) -> Sales:
    [(new_customers, active_customers)] = queries.rows("customers")
    return Sales(
        days=queries.rows("revenue_daily"),
        currencies=[CurrencyRevenue(*row) for row in queries.rows("revenue_currencies")],
        new_customers=new_customers,
        active_customers=active_customers,
    )


def revenue_charts(period: ReportPeriod, sales: Sales) -> dict[str, str]:
    if not sales.orders:
        return {}
    revenue = [None if usd is None else float(usd) for _, _, usd in sales.days]
    return {
        "revenue": bar_chart(
            f"Revenue in USD per day, {period.label}",
            [day.strftime("%m-%d") for day, _, _ in sales.days],
            [Series("revenue USD", revenue, "#009e73")],
            "day (UTC)",
        )
    }


def revenue_figures(sales: Sales) -> list[tuple[str, str]]:
    return [
        ("orders (shipped or completed)", format_value(sales.orders)),
        ("revenue USD", money(sales.revenue_usd)),
        ("new customers", format_value(sales.new_customers)),
        ("active customers", format_value(sales.active_customers)),
    ]


REVENUE = ReportSection(
    name="revenue",
    pipeline=PIPELINE,
    folder=Path(__file__).parent / "report",
    read=read_sales,
    order=30,
    charts=revenue_charts,
    key_figures=revenue_figures,
    main_chart="revenue",
)
SECTIONS = (REVENUE,)
