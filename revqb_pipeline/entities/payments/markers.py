"""QBO Payments found by the ``<prefix><id>`` marker in their PrivateNote (Payment.DocNumber is not
filterable): the writer's lookup adapter and the reconcilers' read of every live marked Payment."""

from __future__ import annotations

from typing import Any

from revqb_pipeline.clients.errors import QBOError
from revqb_pipeline.clients.qbo import QBOClient, in_clause
from revqb_pipeline.entities.payments import mapping as pm
from revqb_pipeline.sync.writer import WriteRequest

#: Customers per ``CustomerRef IN`` list; all the lists of one lookup travel in one batch call (30 each).
LOOKUP_CHUNK = 50


class MarkerAdapter:
    """Payments are found by the ``<prefix><id>`` marker in PrivateNote among their customer's payments
    (Payment.DocNumber is not filterable); voided payments are ignored. One lookup reads the payments of
    all its requests' customers in one ``/batch`` call of ``IN`` queries (per 1,500 customers)."""

    def __init__(self, qbo: QBOClient, prefix: str):
        self.qbo = qbo
        self.prefix = prefix

    def lookup_queries(self, requests: list[WriteRequest]) -> list[tuple[str, str]]:
        """The ``(entity, where)`` queries of a lookup: the payments of the requests' customers."""
        customers = sorted({str(r.payload["CustomerRef"]["value"]) for r in requests})
        chunks = [customers[i : i + LOOKUP_CHUNK] for i in range(0, len(customers), LOOKUP_CHUNK)]
        return [("Payment", f"CustomerRef IN {in_clause(c)}") for c in chunks]

    def lookup_rows(
        self, requests: list[WriteRequest], results: list[list[dict[str, Any]]]
    ) -> dict[str, dict[str, Any]]:
        """The live payment carrying each request's marker, from the rows of ``lookup_queries``."""
        wanted = {r.source_id for r in requests}
        found: dict[str, dict[str, Any]] = {}
        for rows in results:
            for row in rows:
                if pm.is_voided(row):
                    continue  # a voided payment is history: never linked, never edited
                for sid in pm.markers_in(row.get("PrivateNote"), self.prefix):
                    if sid in wanted:
                        found[sid] = row
        return found

    def lookup(self, requests: list[WriteRequest]) -> dict[str, dict[str, Any]]:
        return self.lookup_rows(requests, self.qbo.query_all_each(self.lookup_queries(requests)))

    def update_body(self, existing: dict[str, Any], desired: dict[str, Any]) -> dict[str, Any] | None:
        if pm.is_voided(existing):
            return None  # never resurrect a voided payment by editing it
        return pm.payment_update_payload(existing, desired)

    def on_create_error(self, request: WriteRequest, error: QBOError) -> WriteRequest | None:
        return None


def payments_by_marker(qbo: QBOClient, prefix: str) -> dict[str, list[dict[str, Any]]]:
    """Every live (not voided) QBO Payment, by the source ids its PrivateNote markers name."""
    out: dict[str, list[dict[str, Any]]] = {}
    for row in qbo.query_all("Payment"):
        if pm.is_voided(row):
            continue
        for sid in pm.markers_in(row.get("PrivateNote"), prefix):
            out.setdefault(sid, []).append(row)
    return out
