"""Sales: the operational system's daily exports (customers, orders, order lines, FX rates) into a star schema and
revenue marts."""
