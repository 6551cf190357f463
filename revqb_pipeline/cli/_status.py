"""``revqb status`` (the ledger, with reasons) and ``revqb reconcile`` (Rev.io against QBO)."""

from __future__ import annotations

import json
from types import SimpleNamespace
from typing import Any

from revqb_pipeline.cli._common import EXIT_FAILURE, EXIT_OK, err, require, say, settings_or_exit

STATUSES = ("synced", "pending", "in_flight", "waiting", "failed", "quarantined", "voided")


def cmd_reconcile(args: SimpleNamespace) -> int:
    """Counts and totals per entity on both sides; exit 1 when they disagree. ``--report`` / ``--csv`` also
    write the reconciliation report (``revqb_pipeline/reports``): every difference by document, AR aging."""
    from revqb_pipeline.entities import reconcile
    from revqb_pipeline.sync.reconcile import format_table
    from revqb_pipeline.sync.runtime import Runtime

    settings = settings_or_exit()
    require(settings, db_must_exist=True)
    rt = Runtime(settings)
    results = reconcile(rt, args.entity or None)
    if args.json:
        say(json.dumps([r.as_dict() for r in results], indent=2))
    else:
        say(format_table(results))
    if args.report or args.csv:
        from revqb_pipeline.reports import build_report, write_report

        report = build_report(rt, results=results, as_of=args.as_of)
        for path in write_report(report, html=args.report, csv=args.csv):
            (err if args.json else say)(f"wrote {path}")  # stdout stays JSON with --json
    drifted = _open_drift(rt)
    see = " (see revqb status)" if drifted else ""
    (err if args.json else say)(f"QBO drift: {len(drifted)} open{see}")
    return EXIT_OK if all(r.agrees for r in results) and not drifted else EXIT_FAILURE


def _open_drift(rt: object) -> list[Any]:
    """QBO drift nobody has resolved (``revqb drift``; empty before the first drift pass)."""
    from revqb_pipeline.sync.drift import open_drift

    return open_drift(rt)  # type: ignore[arg-type]


def cmd_status(args: SimpleNamespace) -> int:
    """Ledger counts per source type and status, then the records that need attention."""
    from revqb_pipeline.sync.runtime import Runtime

    settings = settings_or_exit()
    require(settings, need_revio=False, need_qbo=False, need_mapping=False, db_must_exist=True)
    rt = Runtime(settings)
    summary = rt.ledger.summary()
    if args.json:
        problems = [
            {
                "source_type": r.source_type,
                "source_id": r.source_id,
                "status": str(r.status),
                "reason": r.last_error,
            }
            for r in rt.ledger.problems()
            if not args.type or r.source_type == args.type
        ]
        if args.type:
            summary = {k: v for k, v in summary.items() if k == args.type}
        drift = [
            {
                "source_type": d.source_type,
                "source_id": d.source_id,
                "qbo_entity": d.qbo_entity,
                "qbo_id": d.qbo_id,
                "kind": d.kind,
                "changes": d.changes,
                "detected_at": d.detected_at,
                "alerted_at": d.alerted_at,
            }
            for d in _open_drift(rt)
        ]
        say(json.dumps({"summary": summary, "problems": problems, "drift": drift}, indent=2, default=str))
        return EXIT_OK
    say(f"{'type':<20}" + "".join(f"{s:>12}" for s in STATUSES))
    for source_type in sorted(summary):
        if args.type and source_type != args.type:
            continue
        counts = summary[source_type]
        say(f"{source_type:<20}" + "".join(f"{counts.get(s, 0):>12}" for s in STATUSES))
    if args.type and args.type not in summary:
        say(f"(no {args.type} records in the ledger)")
    problems = [r for r in rt.ledger.problems() if not args.type or r.source_type == args.type]
    if problems:
        say("\nneeds attention:")
        for r in problems[: args.limit]:
            code = f" [{r.last_error_code}]" if r.last_error_code else ""
            say(f"  {r.source_type} {r.source_id}: {r.status}{code} {r.last_error or ''}")
        if len(problems) > args.limit:
            say(f"  ... {len(problems) - args.limit} more (--limit)")
    drifted = _open_drift(rt)
    if drifted:
        from revqb_pipeline.sync.drift import drift_text

        say(f"\nQBO drift ({len(drifted)} open):")
        for d in drifted[: args.limit]:
            say(f"  {drift_text(d)}")
    return EXIT_OK
