"""SIGINT / SIGTERM: stop after the current Dagster step (exit 130 / 143); a second signal aborts at once."""

from __future__ import annotations

import logging
import os
import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from revqb_pipeline.cli._common import err


class Interrupted(Exception):
    """A SIGINT / SIGTERM stopped the command; the exit code is 128 + the signal number."""

    def __init__(self, signum: int) -> None:
        self.signum = signum
        super().__init__(signal.Signals(signum).name)


@dataclass
class StopSignal:
    """Set by the first SIGINT/SIGTERM. While a Dagster run is in flight (``in_run``) it only asks to stop
    once that run finished its steps; otherwise it stops right away. A second signal exits at once."""

    signum: int | None = None
    in_run: bool = False
    active: bool = False

    @property
    def requested(self) -> bool:
        return self.signum is not None

    def handle(self, signum: int, _frame: Any) -> None:
        name = signal.Signals(signum).name
        if self.signum is not None:
            err(f"revqb: second {name}: aborting now (a re-run resolves any write in flight)")
            os._exit(128 + signum)
        self.signum = signum
        if self.in_run:
            err(f"revqb: {name} received: stopping after the current step (send it again to abort at once)")
        else:
            raise Interrupted(signum)


STOP = StopSignal()


@contextmanager
def graceful_signals() -> Iterator[StopSignal]:
    """Route SIGINT/SIGTERM to :data:`STOP` (main thread only); restore the previous handlers after."""
    if threading.current_thread() is not threading.main_thread():
        yield STOP
        return
    previous = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    STOP.signum, STOP.in_run, STOP.active = None, False, True
    for sig in previous:
        signal.signal(sig, STOP.handle)
    try:
        yield STOP
    finally:
        STOP.active = False
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _stop_gate_fn(context: Any, _events: Any) -> Any:
    """Hook run by Dagster after every step: once a stop was requested, cancel the run here, between
    steps (the finished step's ledger writes are complete; the next step never starts)."""
    import dagster as dg
    from dagster._core.definitions.events import HookExecutionResult

    if STOP.requested:
        run = context.instance.get_run_by_id(context.run_id)
        if run is not None:
            name = signal.Signals(STOP.signum).name if STOP.signum else "signal"
            context.instance.report_run_canceling(
                run, message=f"revqb: {name}; stopping after {context.step_key}"
            )
        raise dg.DagsterExecutionInterruptedError()
    return HookExecutionResult(hook_name="revqb_stop_gate", is_skipped=False)


def stop_gate() -> Any:
    """The hook definition of :func:`_stop_gate_fn` (built lazily: importing dagster is slow)."""
    import dagster as dg

    return dg.HookDefinition(name="revqb_stop_gate", hook_fn=_stop_gate_fn)


def _not_the_cancel_trace(record: logging.LogRecord) -> bool:
    """Drop Dagster's RUN_CANCELED record (a stack trace of the stop gate); revqb prints one line."""
    return not (STOP.requested and "RUN_CANCELED" in record.getMessage())


def quiet_console() -> Any:
    """Dagster's colored console logger without the cancellation trace (same config, same ``console`` key)."""
    import dagster as dg

    base = dg.colored_console_logger

    @dg.logger(config_schema=base.config_schema, description=base.description)
    def console(init_context: Any) -> logging.Logger:
        log = base.logger_fn(init_context)
        log.addFilter(_not_the_cancel_trace)
        return log

    return console


def execute(fn: Callable[[], Any]) -> Any:
    """Run one Dagster run. Under :func:`graceful_signals` it runs in a worker thread, where Dagster does
    not install its own interrupt handlers (which would raise inside the running step): a signal only sets
    :data:`STOP`, the :func:`stop_gate` hook cancels the run after the current step, and
    ``run_partitions`` starts no further partition."""
    if not STOP.active:
        return fn()
    box: dict[str, Any] = {}

    def target() -> None:
        try:
            box["result"] = fn()
        except BaseException as exc:  # re-raised in the main thread
            box["error"] = exc

    worker = threading.Thread(target=target, name="revqb-run", daemon=True)
    STOP.in_run = True
    try:
        worker.start()
        while worker.is_alive():
            worker.join(0.2)
    finally:
        STOP.in_run = False
    if "error" in box:
        raise box["error"]
    return box["result"]
