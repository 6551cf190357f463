"""Permanent vs transient errors in Dagster: one decorator for every compute function that talks to an
API or the database.

A permanent error (credentials, permissions, unknown realm, configuration, a non-retryable API answer)
becomes ``dg.Failure(allow_retries=False)`` whose description is one line naming what to fix: the step
fails at once, the RetryPolicy is skipped (Dagster 1.13 re-raises such a Failure before consulting the
policy), and the run page, ``revqb sync`` and the run-failure alert show that line. Transient errors (429,
5xx, timeouts, resets, a locked database) and unknown ones are re-raised untouched for the RetryPolicy.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

import dagster as dg
import sqlalchemy as sa

from revqb_pipeline.clients.errors import ApiError
from revqb_pipeline.mapping.config import MappingConfigError
from revqb_pipeline.preflight import PreflightFailed
from revqb_pipeline.settings import safe_db_url
from revqb_pipeline.staging.tokens import TokenKeyError

F = TypeVar("F", bound=Callable[..., Any])

#: Database driver messages that no retry can fix (wrong URL, credentials, database name, file path).
_DB_PERMANENT = (
    "password authentication failed",
    "authentication failed",
    "does not exist",
    "could not translate host name",
    "unable to open database file",
    "no pg_hba.conf entry",
)


def _first_line(text: str, limit: int = 300) -> str:
    line = next((x.strip() for x in str(text).splitlines() if x.strip()), "")
    return line[:limit]


def db_failure_cause(exc: BaseException, db_url: str | None = None) -> str | None:
    """The one-line cause of a database error that no retry fixes (None: transient or unknown)."""
    where = f" ({safe_db_url(db_url)})" if db_url else ""
    if isinstance(exc, sa.exc.ArgumentError | sa.exc.NoSuchModuleError):
        return f"REVQB_DB_URL: not a usable database URL{where}: {_first_line(str(exc))}"
    if isinstance(exc, sa.exc.DBAPIError):
        orig = _first_line(str(exc.orig) if exc.orig is not None else str(exc))
        if isinstance(exc, sa.exc.OperationalError | sa.exc.InterfaceError) and any(
            t in orig.lower() for t in _DB_PERMANENT
        ):
            return f"REVQB_DB_URL: the staging database refused the connection{where}: {orig}"
    return None


def failure_cause(exc: BaseException) -> str | None:
    """One line naming what to fix when retrying cannot help; None for transient or unknown errors."""
    if isinstance(exc, dg.Failure):
        return None
    if isinstance(exc, PreflightFailed):
        return "; ".join(str(p) for p in exc.problems) or "preflight failed"
    if isinstance(exc, TokenKeyError):
        return _first_line(str(exc), 500)
    if isinstance(exc, MappingConfigError):  # REVQB_MAPPING_FILE: each issue as file:line: message
        return _first_line("; ".join(f"{where}: {message}" for where, message in exc.issues), 1000)
    if isinstance(exc, ApiError):
        cause = exc.permanent_cause
        if cause:
            return _first_line(cause, 500)
        if not exc.transient:  # e.g. a 400/404 the same request will get again
            return f"{type(exc).__name__}: {_first_line(str(exc))}"
        return None
    if isinstance(exc, sa.exc.SQLAlchemyError):
        return db_failure_cause(exc)
    return None


def permanent_failure(exc: BaseException) -> dg.Failure | None:
    """The non-retryable ``dg.Failure`` for ``exc``, or None when the RetryPolicy should decide."""
    cause = failure_cause(exc)
    if cause is None:
        return None
    return dg.Failure(
        description=cause,
        metadata={"error": type(exc).__name__, "retried": False},
        allow_retries=False,
    )


def _raise_if_permanent(exc: Exception) -> None:
    """Raise the non-retryable ``dg.Failure`` for ``exc`` when it is permanent; return otherwise."""
    failure = permanent_failure(exc)
    if failure is not None:
        raise failure from None


def fail_fast(fn: F) -> F:
    """Decorate an asset / check compute function (below ``@dg.asset``): permanent errors fail the step
    at once with their cause; anything else propagates to the RetryPolicy. Generators are supported."""
    if inspect.isgeneratorfunction(fn):

        @functools.wraps(fn)
        def gen_wrapper(*args: Any, **kwargs: Any) -> Iterator[Any]:
            try:
                yield from fn(*args, **kwargs)
            except Exception as exc:
                _raise_if_permanent(exc)
                raise

        return gen_wrapper  # type: ignore[return-value]

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except Exception as exc:
            _raise_if_permanent(exc)
            raise

    return wrapper  # type: ignore[return-value]
