"""``revqb webhooks serve`` (the receiver) and ``revqb drift`` (one QBO drift pass)."""

from __future__ import annotations

import json
from types import SimpleNamespace

from revqb_pipeline.cli._common import EXIT_FAILURE, EXIT_OK, UsageError, require, say, settings_or_exit


def cmd_webhooks_serve(args: SimpleNamespace) -> int:
    """Store Rev.io (and, with QBO_WEBHOOK_VERIFIER_TOKEN, QBO) notifications until stopped; register the
    receiver and its subscriptions with Rev.io first unless ``--no-register``."""
    from revqb_pipeline.staging.events import EventStore
    from revqb_pipeline.sync.qbo_events import qbo_handler
    from revqb_pipeline.sync.runtime import Runtime
    from revqb_pipeline.webhooks import Registration, WebhookSettings, serve

    hooks = WebhookSettings()
    if not hooks.secret:
        raise UsageError(
            "REVQB_WEBHOOK_SECRET is not set: the receiver needs a shared secret "
            "(e.g. `openssl rand -hex 24`)"
        )
    settings = settings_or_exit()
    require(settings, need_revio=args.register, need_qbo=False, need_mapping=False)
    rt = Runtime(settings)
    store = EventStore(rt.engine)
    handler = qbo_handler(rt.engine, hooks.qbo_verifier_token) if hooks.qbo_verifier_token else None
    base = hooks.public_url or f"http://{args.host}:{args.port}"

    def registered(reg: Registration) -> None:
        made = "registered" if reg.created_receiver else "reusing"
        say(f"{made} Rev.io webhook receiver {reg.receiver_id}: {', '.join(sorted(reg.subscriptions))}")

    qbo_route = ", QBO -> /qbo/webhooks" if handler else ""
    say(f"revqb webhooks: Rev.io -> {base}/revio/events?token=***{qbo_route}")
    serve(
        store,
        hooks.secret,
        hooks.events,
        host=args.host,
        port=args.port,
        public_url=hooks.public_url,
        revio=rt.revio if args.register else None,
        qbo_handler=handler,
        on_registered=registered,
    )
    return EXIT_OK


def cmd_drift(args: SimpleNamespace) -> int:
    """One drift pass: detect (CDC + stored QBO webhooks), alert once, restore by the mapping's policy;
    exit 1 while any drift is open."""
    from revqb_pipeline import entities
    from revqb_pipeline.notify import Notifier
    from revqb_pipeline.sync.drift import drift_pass, drift_text, load_functions, open_drift
    from revqb_pipeline.sync.runtime import Runtime

    settings = settings_or_exit()
    require(settings, db_must_exist=True)
    rt = Runtime(settings)
    found, restored = drift_pass(rt, Notifier.from_os_env(rt.engine), load_functions(entities.STEPS))
    still = open_drift(rt)
    if args.json:
        body = {
            "found": found.metadata(),
            "restored": len(restored.restored),
            "not_restored": len(restored.failed),
            "open": [{"text": drift_text(d), "kind": d.kind, "changes": d.changes} for d in still],
        }
        say(json.dumps(body, indent=2, default=str))
    else:
        say(f"QBO drift: {', '.join(f'{k} {v}' for k, v in found.metadata().items())}")
        say(f"restored {len(restored.restored)}, not restored {len(restored.failed)}, open {len(still)}")
        for d in still:
            say(f"  {drift_text(d)}")
    return EXIT_FAILURE if still else EXIT_OK
