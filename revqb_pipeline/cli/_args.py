"""Argument types: each turns a bad value into an argparse error (usage, exit 2)."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from datetime import date

from revqb_pipeline.cli._common import SOURCE_TYPES


def day(text: str) -> date:
    """``YYYY-MM-DD`` (argparse type)."""
    try:
        if len(text) != 10:
            raise ValueError
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a date (YYYY-MM-DD): {text!r}") from None


def day_text(text: str) -> str:
    """``YYYY-MM-DD`` kept as text (partition keys)."""
    return day(text).isoformat()


def int_at_least(low: int) -> Callable[[str], int]:
    """A whole number ``>= low`` (argparse type factory)."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
        if value < low:
            raise argparse.ArgumentTypeError(f"must be at least {low}: {text!r}")
        return value

    parse.__name__ = "number"
    return parse


def positive_float(text: str) -> float:
    """A finite number ``> 0`` (argparse type)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not value > 0 or value != value or value == float("inf"):
        raise argparse.ArgumentTypeError(f"must be a positive number: {text!r}")
    return value


def source_type(text: str) -> str:
    """A ledger source type (argparse type)."""
    if text not in SOURCE_TYPES:
        raise argparse.ArgumentTypeError(f"unknown type {text!r}; choose from {', '.join(SOURCE_TYPES)}")
    return text


def reconcile_entity(text: str) -> str:
    """A registered reconciliation name, e.g. ``invoices`` (argparse type)."""
    from revqb_pipeline.entities import RECONCILERS

    if text in RECONCILERS:
        return text
    raise argparse.ArgumentTypeError(f"unknown entity {text!r}; choose from {', '.join(RECONCILERS)}")
