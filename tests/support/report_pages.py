"""Reading a report page back, for tests: the numbers it shows (figures, tables, chart marks) and its sections; a
warehouse loaded from the bundled samples the way the flows load them, without Prefect; and PNG pixels."""

import struct
import zlib
from dataclasses import dataclass, field
from datetime import UTC, datetime
from html.parser import HTMLParser
from pathlib import Path

from sales_exports import load_exports

from tasks.core.batches import make_batch
from tasks.core.settings import DATA_DIR, staging_root_for
from tasks.core.staging import stage_batch
from tasks.pipelines.access_logs.source import ACCESS_LOG_FORMAT
from tasks.pipelines.billing.invoicing import issue_invoices, parse_period
from tasks.pipelines.billing.source import BILLING_EXPORTS
from tasks.warehouse.connection import open_warehouse
from tasks.warehouse.loads import FactTable, load_staged_batch, refresh_marts

REQUESTS = FactTable(pipeline="access_logs", table="logs.requests", partition_day="day")
SAMPLE_LOGS = DATA_DIR / "sample_logs"
SAMPLE_SALES = DATA_DIR / "sample_sales"
SAMPLE_BILLING = DATA_DIR / "sample_billing"


def load_sample_logs(warehouse: Path) -> None:
    for path in sorted(SAMPLE_LOGS.iterdir()):
        staged = stage_batch(make_batch("access_logs", path), ACCESS_LOG_FORMAT, staging_root_for(warehouse), 1 << 20)
        with open_warehouse(warehouse) as connection:
            load_staged_batch(connection, staged, REQUESTS, None)
    with open_warehouse(warehouse) as connection:
        refresh_marts(connection, "access_logs")


def load_sample_sales(warehouse: Path) -> None:
    load_exports(sorted(SAMPLE_SALES.iterdir()), warehouse)


def load_sample_billing(warehouse: Path) -> None:
    """The October catalogue and subscriptions and the first week's usage, invoiced for 2026-10 (the whole sample
    takes three times as long and shows nothing more here)."""
    names = ["plans_2026-10-19.csv", "subscriptions_2026-10-11.csv"]
    names += sorted(path.name for path in SAMPLE_BILLING.glob("usage_2026-10-0*"))
    load_exports([SAMPLE_BILLING / name for name in names], warehouse, family=BILLING_EXPORTS)
    with open_warehouse(warehouse) as connection:
        issue_invoices(connection, parse_period("2026-10"), datetime(2026, 11, 1, 3, tzinfo=UTC), None)


@dataclass
class Page:
    """What a report page shows, as the strings of its data-value attributes."""

    sections: list[str] = field(default_factory=list)
    figures: dict[str, str] = field(default_factory=dict)
    tables: dict[str, list[list[str]]] = field(default_factory=dict)
    marks: dict[str, list[tuple[str, str, str]]] = field(default_factory=dict)  # chart -> (series, label, value)
    empty_messages: int = 0


class _PageParser(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.page = Page()
        self.table: str | None = None
        self.row: list[str] | None = None
        self.chart: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        if "data-section" in attributes:
            self.page.sections.append(attributes["data-section"])
        if "data-figure" in attributes:
            self.page.figures[attributes["data-figure"]] = attributes["data-value"]
        if tag == "table" and "data-table" in attributes:
            self.table = attributes["data-table"]
            self.page.tables[self.table] = []
        if tag == "tr" and self.table:
            self.row = []
        if tag == "td" and self.row is not None:
            self.row.append(attributes["data-value"])
        if tag == "figure":
            self.chart = attributes.get("data-chart-of")
            self.page.marks.setdefault(self.chart, [])
        if "mark" in (attributes.get("class") or "").split() and self.chart:
            self.page.marks[self.chart].append(
                (attributes["data-series"], attributes["data-label"], attributes["data-value"])
            )
        if "empty" in (attributes.get("class") or "").split():
            self.page.empty_messages += 1

    def handle_endtag(self, tag: str) -> None:
        if tag == "tr" and self.row is not None and self.table:
            if self.row:  # header rows have no data cells
                self.page.tables[self.table].append(self.row)
            self.row = None
        if tag == "table":
            self.table = None
        if tag == "figure":
            self.chart = None


def read_page(html: str) -> Page:
    parser = _PageParser()
    parser.feed(html)
    parser.close()
    return parser.page


def png_pixels(path: Path) -> tuple[int, int, list[tuple[int, ...]]]:
    """Width, height and RGB pixels of an 8-bit RGB or RGBA PNG, decoded with zlib and struct only."""
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", f"{path} is not a PNG"
    position, idat = 8, b""
    while position < len(data):
        (length,) = struct.unpack(">I", data[position : position + 4])
        kind = data[position + 4 : position + 8]
        body = data[position + 8 : position + 8 + length]
        if kind == b"IHDR":
            width, height, depth, colour_type = struct.unpack(">IIBB", body[:10])
        elif kind == b"IDAT":
            idat += body
        position += 12 + length
    assert depth == 8 and colour_type in (2, 6), f"unexpected PNG format: depth {depth}, colour type {colour_type}"
    channels = 3 if colour_type == 2 else 4
    raw = zlib.decompress(idat)
    stride = width * channels
    previous = bytearray(stride)
    pixels: list[tuple[int, ...]] = []
    for row_index in range(height):
        start = row_index * (stride + 1)
        kind, line = raw[start], bytearray(raw[start + 1 : start + 1 + stride])
        for i in range(stride):
            left = line[i - channels] if i >= channels else 0
            up = previous[i]
            up_left = previous[i - channels] if i >= channels else 0
            if kind == 1:
                line[i] = (line[i] + left) & 0xFF
            elif kind == 2:
                line[i] = (line[i] + up) & 0xFF
            elif kind == 3:
                line[i] = (line[i] + (left + up) // 2) & 0xFF
            elif kind == 4:
                estimate = left + up - up_left
                distances = (abs(estimate - left), abs(estimate - up), abs(estimate - up_left))
                predictor = (left, up, up_left)[distances.index(min(distances))]
                line[i] = (line[i] + predictor) & 0xFF
        pixels.extend(tuple(line[i : i + 3]) for i in range(0, stride, channels))
        previous = line
    return width, height, pixels
