"""How every report writes a figure and a table: one formatter for a number (``na``), one for a number with its
interval (``with_ci``), and ``markdown_table``. A leaf: the cells package and the reports above it share it."""

from __future__ import annotations

import pandas as pd


def na(value, digits: int = 3, percent: bool = False) -> str:
    """A number to ``digits`` decimals (a share as a percentage with ``percent``), or "n/a" where it is undefined."""
    if value is None:
        return "n/a"
    return f"{value:.{digits}%}" if percent else f"{value:.{digits}f}"


def with_ci(value, interval, digits: int = 3) -> str:
    """A number with its 95% interval, "0.912 (0.871-0.944)"; the number alone where there is no interval."""
    if value is None or not interval or interval[0] is None:
        return na(value, digits)
    low, high = interval
    return f"{na(value, digits)} ({na(low, digits)}-{na(high, digits)})"


def markdown_table(rows: list[dict]) -> list[str]:
    """A Markdown table (its lines), one row per dict, columns in the first dict's order."""
    return pd.DataFrame(rows).to_markdown(index=False, disable_numparse=True).splitlines()
