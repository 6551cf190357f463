"""Option types: each turns a bad value into a click usage error (exit 2) with the message revqb always gave,
e.g. ``argument --days: must be at least 0: '-1'``."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from typing import Any

import click

from revqb_pipeline.cli._common import SOURCE_TYPES


class Checked(click.ParamType):
    """A click type from a function that returns the value or raises ``ValueError(message)``."""

    def __init__(self, name: str, parse: Callable[[str], Any]) -> None:
        self.name = name
        self._parse = parse

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if not isinstance(value, str):  # a default, already converted
            return value
        try:
            return self._parse(value)
        except ValueError as exc:
            self.fail(str(exc), param, ctx)


def _day(text: str) -> date:
    try:
        if len(text) != 10:
            raise ValueError
        return date.fromisoformat(text)
    except ValueError:
        raise ValueError(f"not a date (YYYY-MM-DD): {text!r}") from None


def _at_least(low: int) -> Callable[[str], int]:
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise ValueError(f"not a whole number: {text!r}") from None
        if value < low:
            raise ValueError(f"must be at least {low}: {text!r}")
        return value

    return parse


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise ValueError(f"not a number: {text!r}") from None
    if not value > 0 or value == float("inf"):  # NaN fails the first test
        raise ValueError(f"must be a positive number: {text!r}")
    return value


def _float(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise ValueError(f"not a number: {text!r}") from None


def _source_type(text: str) -> str:
    if text not in SOURCE_TYPES:
        raise ValueError(f"unknown type {text!r}; choose from {', '.join(SOURCE_TYPES)}")
    return text


def _reconcile_entity(text: str) -> str:
    from revqb_pipeline.entities import RECONCILERS  # the registry: loaded only when the option is given

    if text in RECONCILERS:
        return text
    raise ValueError(f"unknown entity {text!r}; choose from {', '.join(RECONCILERS)}")


DAY = Checked("YYYY-MM-DD", _day)
DAY_TEXT = Checked("YYYY-MM-DD", lambda text: _day(text).isoformat())  # kept as text (partition keys)
POSITIVE = Checked("N", _at_least(1))
NON_NEGATIVE = Checked("N", _at_least(0))
POSITIVE_FLOAT = Checked("X", _positive_float)
FLOAT = Checked("X", _float)
SOURCE_TYPE = Checked("TYPE", _source_type)
RECONCILE_ENTITY = Checked("ENTITY", _reconcile_entity)
