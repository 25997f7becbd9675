"""Sales: the operational system's daily exports (customers, orders, order lines, FX rates) into a star schema and
revenue marts."""

from tasks.core.settings import DATA_DIR

SAMPLE = DATA_DIR / "sample_sales"  # the bundled sample folder: the flow's default source
