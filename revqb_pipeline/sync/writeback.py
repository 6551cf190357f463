"""Recording QBO ids back on Rev.io records (custom fields), skipping those that already carry them.

:class:`WriteBack` runs the PATCHes on a small thread pool, so a load step can hand it each slice's synced
ids and go on writing the next slice to QBO; the Rev.io client's tenant limiter (500 calls/min, shared with
every other Rev.io call of the process) paces the threads. Failures are logged and counted, never raised.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from types import TracebackType
from typing import Any

from revqb_pipeline.clients.errors import ApiError
from revqb_pipeline.clients.revio import RevioClient

log = logging.getLogger("revqb.sync")

INVOICE_ID_FIELD = "QBO Invoice Id"
WRITEBACK_THREADS = 3  # ~8 calls/s fit 500/min; three threads cover Rev.io round trips up to ~350 ms


def current_field(raw_json: str | None, label: str) -> tuple[int | None, str | None]:
    """(index, value) of custom field ``label`` on a raw Rev.io record; (None, None) when absent."""
    if not raw_json:
        return None, None
    for index, f in enumerate(json.loads(raw_json).get("fields") or []):
        if isinstance(f, dict) and f.get("label") == label:
            value = f.get("value")
            return index, None if value in (None, "") else str(value)
    return None, None


class WriteBack:
    """PATCH ``label`` = QBO id on staged Rev.io records, in background threads, while the caller loads QBO.

    ``submit`` queues the records of a mapping ``source id -> QBO id`` (each record once; ids of records not
    in ``rows`` are ignored, a record whose field already holds the id counts as ``already_set``);
    ``wait`` blocks until every queued PATCH is done and returns the counts ``written`` / ``already_set`` /
    ``failed``. ``enabled=False`` queues nothing (no Rev.io call at all). As a context manager, an exception
    in the block cancels the PATCHes not started yet (they are retried by the next run: their field is
    still empty) and waits for the running ones.
    """

    def __init__(
        self,
        revio: RevioClient,
        resource: str,
        label: str,
        rows: list[dict[str, Any]],
        pk: str,
        *,
        enabled: bool = True,
        threads: int = WRITEBACK_THREADS,
    ) -> None:
        self.revio = revio
        self.resource = resource
        self.label = label
        self.enabled = enabled
        self._rows = {str(r[pk]): r for r in rows}
        self._queued: set[str] = set()
        self._futures: list[Future[bool]] = []
        self._counts = {"written": 0, "already_set": 0, "failed": 0}
        self._lock = threading.Lock()
        self._pool = (
            ThreadPoolExecutor(max_workers=max(1, threads), thread_name_prefix="revio-writeback")
            if enabled
            else None
        )
        self.wait_s = 0.0  # how long wait() blocked: the write-back time not hidden behind the caller's work

    def submit(self, qbo_ids: Mapping[str, str]) -> int:
        """Queue the records of ``qbo_ids`` not queued before; returns how many PATCHes were queued."""
        if self._pool is None:
            return 0
        queued = 0
        for sid, qbo_id in qbo_ids.items():
            row = self._rows.get(sid)
            if not qbo_id or row is None or sid in self._queued:
                continue
            self._queued.add(sid)
            index, value = current_field(row.get("raw_json"), self.label)
            if value == qbo_id:
                with self._lock:
                    self._counts["already_set"] += 1
                continue
            self._futures.append(self._pool.submit(self._write, sid, qbo_id, index))
            queued += 1
        return queued

    def _write(self, sid: str, qbo_id: str, index: int | None) -> bool:
        try:
            self.revio.set_custom_field(self.resource, int(sid), self.label, qbo_id, known_index=index)
        except ApiError as exc:
            log.warning(
                "could not write %s=%s back to Rev.io %s %s: %s", self.label, qbo_id, self.resource, sid, exc
            )
            return False
        except Exception:  # a bug must not lose the count nor fail the load: logged with its traceback
            log.exception(
                "could not write %s=%s back to Rev.io %s %s", self.label, qbo_id, self.resource, sid
            )
            return False
        return True

    def wait(self) -> dict[str, int]:
        """Block until every queued PATCH finished; the counts (``written``, ``already_set``, ``failed``)."""
        started = time.monotonic()
        for future in self._futures:
            ok = future.result()  # _write never raises
            with self._lock:
                self._counts["written" if ok else "failed"] += 1
        self._futures.clear()
        if self._pool is not None:
            self._pool.shutdown(wait=True)
        self.wait_s += time.monotonic() - started
        with self._lock:
            return dict(self._counts)

    def __enter__(self) -> WriteBack:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=exc_type is not None)


def write_back_ids(
    revio: RevioClient,
    resource: str,
    label: str,
    rows: list[dict[str, Any]],
    pk: str,
    qbo_ids: dict[str, str],
    *,
    threads: int = WRITEBACK_THREADS,
) -> dict[str, int]:
    """PATCH ``label`` = QBO id on each staged record whose field differs (all at once, :class:`WriteBack`
    threads); failures are logged, not raised."""
    with WriteBack(revio, resource, label, rows, pk, threads=threads) as writeback:
        writeback.submit(qbo_ids)
        return writeback.wait()
