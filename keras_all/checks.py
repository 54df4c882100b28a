"""Checks of configuration values: one ValueError naming the setting and what it must be."""

from __future__ import annotations


def is_integer(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def is_number(value) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def check_integer(name: str, value, low: int, high: int | None = None) -> None:
    """ValueError naming ``name`` unless ``value`` is an integer (not a boolean) in [low, high]."""
    if not is_integer(value) or value < low or high is not None and value > high:
        bound = f"of at least {low}" if high is None else f"in [{low}, {high}]"
        raise ValueError(f"{name}={value!r}: must be an integer {bound}")


def check_between(name: str, value, low: float, high: float, low_included: bool = False,
                  high_included: bool = False) -> None:
    """ValueError naming ``name`` unless ``value`` is a number between ``low`` and ``high`` (each bound
    excluded unless said)."""
    above = is_number(value) and (low <= value if low_included else low < value)
    if not above or not (value <= high if high_included else value < high):
        interval = f"{'[' if low_included else '('}{low}, {high}{']' if high_included else ')'}"
        raise ValueError(f"{name}={value!r}: must be a number in {interval}")
