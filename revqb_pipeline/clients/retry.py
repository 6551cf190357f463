"""The one retry layer of the API clients, on tenacity.

Each client hands :func:`call_with_retries` one attempt (a callable that sends the request once and
raises a typed error) and says which errors are worth another try; tenacity does the counting, the
waits and the re-raise. The rules stay with the clients: QBO retries transient errors (429, 5xx,
network) with the same ``requestid`` and body, a 429 pauses the realm's limiter for ``Retry-After``;
Rev.io retries a create only when it surely did not land; a 401 refreshes the token once inside the
attempt (not a retry). Permanent errors (validation, 2010, 6240, configuration) are never retried.
Dagster's ``RetryPolicy`` is the second, coarser layer: it re-runs a failed *step* later.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import ClassVar, TypeVar

from tenacity import RetryCallState, Retrying, retry_if_exception, stop_after_attempt
from tenacity.wait import wait_exponential_jitter

__all__ = ["MAX_BACKOFF_S", "RetryingClient", "call_with_retries", "exponential_wait"]

T = TypeVar("T")

MAX_BACKOFF_S = 60.0

log = logging.getLogger("revqb.retry")


def exponential_wait(base_s: float) -> Callable[[RetryCallState], float]:
    """``base_s * 2**(n-1)`` plus up to ``base_s`` of jitter before retry ``n``, capped at 60 s."""
    return wait_exponential_jitter(initial=base_s, max=MAX_BACKOFF_S, jitter=base_s)


def call_with_retries(
    attempt: Callable[[], T],
    *,
    retries: int,
    retryable: Callable[[BaseException], bool],
    base_s: float,
    sleep: Callable[[float], None],
    delay_for: Callable[[BaseException], float | None] | None = None,
    on_retry: Callable[[BaseException], None] | None = None,
    label: str = "",
    logger: logging.Logger = log,
) -> T:
    """Run ``attempt`` and up to ``retries`` more times while it raises a ``retryable`` error.

    ``delay_for(error)`` may name the wait (e.g. a 429's ``Retry-After``; ``0`` when ``on_retry`` pauses a
    limiter instead); ``None`` falls back to exponential backoff with jitter. ``on_retry(error)`` runs
    before each retry (never after the last try). The last error is re-raised.
    """
    backoff = exponential_wait(base_s)

    def wait(state: RetryCallState) -> float:
        error = state.outcome.exception() if state.outcome else None
        chosen = delay_for(error) if delay_for is not None and error is not None else None
        return backoff(state) if chosen is None else max(0.0, chosen)

    def before_sleep(state: RetryCallState) -> None:
        error = state.outcome.exception() if state.outcome else None
        if on_retry is not None and error is not None:
            on_retry(error)
        delay = state.upcoming_sleep
        logger.warning("%s: %s; retry %d in %.2fs", label, _describe(error), state.attempt_number, delay)

    retrying = Retrying(
        stop=stop_after_attempt(max(0, retries) + 1),
        wait=wait,
        retry=retry_if_exception(retryable),
        sleep=sleep,
        before_sleep=before_sleep,
        reraise=True,
    )
    return retrying(attempt)


class RetryingClient:
    """The retry settings an API client holds (``max_retries``, ``backoff_base_s``, ``_sleep``, ``_log``);
    :meth:`_with_retries` runs one call under them."""

    max_retries: int
    backoff_base_s: float
    _sleep: Callable[[float], None]
    _log: ClassVar[logging.Logger] = log

    def _with_retries(
        self,
        attempt: Callable[[], T],
        label: str,
        retryable: Callable[[BaseException], bool],
        delay_for: Callable[[BaseException], float | None] | None = None,
        on_retry: Callable[[BaseException], None] | None = None,
    ) -> T:
        """:func:`call_with_retries` with this client's retries, backoff, sleep and logger."""
        return call_with_retries(
            attempt,
            retries=self.max_retries,
            retryable=retryable,
            base_s=self.backoff_base_s,
            sleep=self._sleep,
            delay_for=delay_for,
            on_retry=on_retry,
            label=label,
            logger=self._log,
        )


def _describe(error: BaseException | None) -> str:
    if error is None:
        return "no error"
    status = getattr(error, "status", None)
    return f"{type(error).__name__}" + (f" {status}" if status else "")
