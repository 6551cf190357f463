"""Payload rows of a working set: pure composition of the mapping layer (no I/O).

Payloads keep symbolic references until just before the write (``sync/resolver.py``).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

from revqb_pipeline.entities.payments import mapping as pm
from revqb_pipeline.entities.payments.credit_mapping import credit_memo_payload
from revqb_pipeline.entities.payments.source_types import (
    APPLY_SOURCE_TYPE,
    CREDIT_SOURCE_TYPE,
    SOURCE_TYPE,
)
from revqb_pipeline.entities.payments.working_set import WorkingSet
from revqb_pipeline.mapping.config import MappingConfig
from revqb_pipeline.mapping.errors import RecordError
from revqb_pipeline.mapping.hashing import payload_hash
from revqb_pipeline.money import from_cents


@dataclass
class Documents:
    """Payload rows (for ``qbo_payloads``) of payments, credit memos and credit applications."""

    payments: list[dict[str, Any]] = field(default_factory=list)
    credits: list[dict[str, Any]] = field(default_factory=list)
    applications: list[dict[str, Any]] = field(default_factory=list)


def _row(
    source_type: str, sid: int, entity: str, pk: str, key: str | None, env: dict[str, Any]
) -> dict[str, Any]:
    return {
        "source_type": source_type,
        "source_id": str(sid),
        "qbo_entity": entity,
        "partition_key": pk,
        "business_key": key,
        "payload": env,
    }


def build_documents(ws: WorkingSet, cfg: MappingConfig, partition_key: str) -> Documents:
    """Decisions and payload envelopes ``{"decision", "reason", "body", ...}`` for the whole working set."""
    docs = Documents()
    decisions = pm.plan_payments(ws.payments.values())
    allocs = pm.allocate(ws.bills, ws.credits.values(), decisions, ws.payments.values())
    for pid, p in ws.payments.items():
        d = decisions[pid]
        env: dict[str, Any] = {
            "decision": d.action,
            "reason": d.reason,
            "customer_id": p["customer_id"],
            "bill_id": p.get("bill_id"),
            "original_payment_id": d.original_payment_id,
            "body": None,
        }
        if d.action == "post":
            bid = p.get("bill_id")
            alloc = allocs.get(int(bid)) if bid else None
            applied = alloc.payments.get(pid, 0) if alloc else 0
            try:
                env["body"] = pm.payment_payload(p, d, applied, cfg)
            except RecordError as exc:
                env.update(decision="reject", reason=str(exc))
            else:
                if bid and int(bid) not in ws.bills:
                    # its bill has not been read yet: applying nothing now would post it unapplied
                    env.update(decision="wait", reason=ws.bill_wait_reason(bid))
                    env["body"] = None
                else:
                    env["reason"] += (
                        f"; {from_cents(applied)} applied to bill {bid}" if applied else "; unapplied"
                    )
        docs.payments.append(_row(SOURCE_TYPE, pid, "Payment", partition_key, pm.marker(pid, cfg), env))
    for cid, c in ws.credits.items():
        env = {"decision": "post", "reason": f"{c.get('credit_kind')} credit", "body": None}
        try:
            env["body"] = credit_memo_payload(c, cfg)
        except RecordError as exc:
            env.update(decision="reject", reason=str(exc))
        key = env["body"]["DocNumber"] if env["body"] else None
        docs.credits.append(_row(CREDIT_SOURCE_TYPE, cid, "CreditMemo", partition_key, key, env))
        bid = c.get("bill_id")
        if not bid or env["decision"] != "post":
            continue
        alloc = allocs.get(int(bid))
        applied = alloc.credits.get(cid, 0) if alloc else 0
        body = pm.credit_application_payload(c, applied)
        decision = "apply" if body else ("none" if int(bid) in ws.bills else "wait")
        app_env = {
            "decision": decision,
            "reason": (
                f"apply {from_cents(applied)} of credit memo to bill {bid}"
                if body
                else f"nothing to apply: bill {bid} is reversed or already covered"
                if decision == "none"
                else ws.bill_wait_reason(bid)
            ),
            "customer_id": c["customer_id"],
            "bill_id": bid,
            "body": body,
        }
        docs.applications.append(
            _row(APPLY_SOURCE_TYPE, cid, "Payment", partition_key, pm.credit_apply_marker(cid), app_env)
        )
    return docs


def payload_digest(rows: list[dict[str, Any]]) -> str:
    """A short digest of payload rows (for metadata: same digest = nothing changed)."""
    h = hashlib.sha256()
    for row in sorted(rows, key=lambda r: (r["source_type"], r["source_id"])):
        h.update(f"{row['source_type']}:{row['source_id']}:{payload_hash(row['payload'])}".encode())
    return h.hexdigest()[:12]
