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
    revenue_usd: Decimal | None  # of the days with a rate
    days_without_rate: list[date]


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
    def days_without_rate(self) -> list[date]:
        """The days whose USD revenue is unknown: one of their currencies has no exchange rate for the day."""
        return [day for day, _, revenue in self.days if revenue is None]

    @property
    def revenue_usd(self) -> Decimal | None:
        """The USD revenue of the period's days whose revenue is known (all of them unless days_without_rate says
        otherwise); unknown only when no day's is."""
        known = [revenue for _, _, revenue in self.days if revenue is not None]
        return sum(known, Decimal(0)) if known else None

    @property
    def revenue_caveat(self) -> str:
        """ "" when every day's USD revenue is known, else which days revenue_usd leaves out and why."""
        if not self.days_without_rate:
            return ""
        days = ", ".join(day.isoformat() for day in self.days_without_rate)
        those = "that day" if len(self.days_without_rate) == 1 else "those days"
        return f"without {days}: no exchange rate for {those}"


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
    unknown = " (?: no exchange rate that day)" if sales.days_without_rate else ""
    return {
        "revenue": bar_chart(
            f"Revenue in USD per day, {period.label}{unknown}",
            [day.strftime("%m-%d") for day, _, _ in sales.days],
            [Series("revenue USD", revenue, "#009e73")],
            "day (UTC)",
        )
    }


def revenue_figures(sales: Sales) -> list[tuple[str, str]]:
    caveat = sales.revenue_caveat
    return [
        ("orders (shipped or completed)", format_value(sales.orders)),
        (
            "revenue USD",
            money(sales.revenue_usd) + (f" ({caveat})" if caveat and sales.revenue_usd is not None else ""),
        ),
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
