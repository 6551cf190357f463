"""``revqb mappings check`` and ``revqb mappings init``: the mapping file against the live Rev.io data.

``check`` reads the Rev.io catalog (products, product types, payment methods) and the recent charges, credits
and payments through the Rev.io client and lists what the mapping file lacks (``mapping/checks.py``); it
exits 1 when anything current records need is missing. ``init`` writes a commented starter mapping file
from the Rev.io catalog (and the tax classes / payment methods recent records use) that loads as is
(``mapping/starter.py``).
"""

from __future__ import annotations

import json
from datetime import date, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import TYPE_CHECKING

from revqb_pipeline.cli._common import EXIT_CONFIG, EXIT_FAILURE, EXIT_OK, say

if TYPE_CHECKING:
    from revqb_pipeline.clients.revio import RevioClient
    from revqb_pipeline.mapping.checks import CompletenessReport
    from revqb_pipeline.mapping.config import MappingConfig
    from revqb_pipeline.mapping.starter import RevioSnapshot


def read_revio(revio: RevioClient, since: datetime | None) -> RevioSnapshot:
    """The catalog plus the charges, credits and payments created since ``since`` (all when ``None``)."""
    from revqb_pipeline.mapping.starter import RevioSnapshot

    return RevioSnapshot(
        products=list(revio.products()),
        product_types=list(revio.product_types()),
        payment_methods=list(revio.payment_methods()),
        charges=list(revio.charges(created_start=since)),
        credits=list(revio.credits(created_start=since)),
        payments=list(revio.payments(created_start=since)),
    )


def check_snapshot(cfg: MappingConfig, snap: RevioSnapshot) -> CompletenessReport:
    """What the Rev.io data in ``snap`` needs that ``cfg`` lacks."""
    from revqb_pipeline.mapping.checks import completeness_from_revio

    return completeness_from_revio(
        cfg,
        products=snap.products,
        product_types=snap.product_types,
        charges=snap.charges,
        credits=snap.credits,
        payments=snap.payments,
        payment_methods=snap.payment_methods,
    )


def _since(args: SimpleNamespace) -> datetime | None:
    if getattr(args, "since", None):
        return datetime.combine(date.fromisoformat(args.since), datetime.min.time())
    days = getattr(args, "days", None)
    if days is None or days <= 0:
        return None
    return datetime.combine(date.today() - timedelta(days=days), datetime.min.time())


def cmd_mappings_check(args: SimpleNamespace) -> int:
    """Exit 0 when the mapping covers the Rev.io data, 1 when something is missing, 2 for a bad file."""
    from revqb_pipeline.mapping.config import MappingConfigError, load_mapping
    from revqb_pipeline.preflight import ensure_ready, load_settings
    from revqb_pipeline.sync.runtime import build_revio

    settings = load_settings()
    path = args.mapping or settings.mapping_file
    try:
        cfg = load_mapping(path)
    except MappingConfigError as exc:
        for where, message in exc.issues:  # one line each: file:line: key: problem
            say(f"{where}: {message}")
        return EXIT_CONFIG
    ensure_ready(settings, need_qbo=False, need_db=False, need_mapping=False)
    with build_revio(settings) as revio:
        report = check_snapshot(cfg, read_revio(revio, _since(args)))
    if args.json:
        say(json.dumps(report.as_dict(args.strict), indent=2))
    else:
        say(f"mapping file: {path or 'revqb_pipeline/mapping/default.yaml (packaged default)'}")
        say(report.format(strict=args.strict, verbose=args.verbose))
    return EXIT_OK if report.ok(args.strict) else EXIT_FAILURE


def cmd_mappings_init(args: SimpleNamespace) -> int:
    """Write the starter file (stdout without --output); refuses to overwrite without --force."""
    import yaml

    from revqb_pipeline.mapping.config import parse_mapping
    from revqb_pipeline.mapping.starter import starter_yaml
    from revqb_pipeline.preflight import ensure_ready, load_settings
    from revqb_pipeline.sync.runtime import build_revio

    settings = load_settings()
    ensure_ready(settings, need_qbo=False, need_db=False, need_mapping=False)
    with build_revio(settings) as revio:
        snap = read_revio(revio, _since(args))
    text = starter_yaml(snap)
    parse_mapping(yaml.safe_load(text), "starter mapping")  # never write a file that does not load
    if not args.output:
        print(text, end="", flush=True)
        return EXIT_OK
    out = Path(args.output)
    if out.exists() and not args.force:
        say(f"{out} exists; pass --force to overwrite it")
        return EXIT_FAILURE
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text, encoding="utf-8")
    say(f"wrote {out}: review it, then run `revqb mappings check --mapping {out}`")
    return EXIT_OK
