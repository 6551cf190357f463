"""Real-time benchmark (issue 14): latency from a bill created in Rev.io to its invoice in QBO.

``python -m benchmarks.webhook_latency [--bills 10] [--gap 8] [--mode both|webhooks|polling]``

Everything runs the way a deployment does, on loopback: both sandboxes (the Rev.io clock in real time, the QBO
sandbox answering each request after ``--latency`` s, 0.15 by default like ``revqb sandbox serve``), the
staging DB (SQLite), the webhook receiver (``revqb_pipeline.webhooks``, registered with the Rev.io sandbox)
and a real ``dagster-daemon`` with ``REVQB_AUTOMATION=on``, so the sensors tick at their default intervals
(``revio_webhook_sensor`` 5 s, ``revio_changes_sensor`` 60 s) and every run is launched as its own process by
the default run launcher. After a warm-up bill (reference data, first run), ``--bills`` bills are created one
every ``--gap`` s; each bill's latency is the time until its invoice (DocNumber ``RV-<bill_id>``) is in the
QBO sandbox. Modes: ``webhooks`` (receiver registered) and ``polling`` (no receiver: the lost-webhooks case,
where only the polling sensor finds the bills). Prints p50 / p95 / max per mode against the goal (p95 <= 60 s
with webhooks); never asserts on time.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from datetime import date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import httpx

from benchmarks.common import figure, heading

GOAL_P95_S = 60.0
ROOT = Path(__file__).resolve().parent.parent
TIMEZONE = "America/Chicago"
SECRET = "bench-webhook-secret"


def percentile(values: list[float], q: float) -> float:
    """The ``q`` quantile (nearest rank) of ``values``."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * len(ordered) + 0.5) - 1))]


def run_mode(mode: str, args: argparse.Namespace) -> list[float]:
    """Latencies (s) of ``args.bills`` bills in ``mode`` (``webhooks`` or ``polling``)."""
    from revqb_pipeline.settings import RevqbSettings
    from revqb_pipeline.staging.events import EventStore
    from revqb_pipeline.sync.runtime import Runtime
    from revqb_pipeline.webhooks import DEFAULT_EVENT_RESOURCES, receiver_url, register, start_receiver
    from revqb_sandbox.qbo.settings import QBOSandboxSettings
    from revqb_sandbox.revio.settings import RevioSandboxSettings
    from revqb_sandbox.servers import start_sandboxes, stop_sandboxes

    now = datetime.now(ZoneInfo(TIMEZONE)).replace(tzinfo=None, microsecond=0)
    revio = RevioSandboxSettings(
        customers=args.bills + 1, bills=False, months=0, start=now.date() - timedelta(days=1), now=now
    )
    qbo = QBOSandboxSettings(request_latency_s=args.latency)
    sb = start_sandboxes(revio, qbo)
    work = Path(tempfile.mkdtemp(prefix=f"revqb-latency-{mode}-"))
    home = work / "dagster_home"
    home.mkdir()
    (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    env = {
        **os.environ,
        **sb.env(),
        "REVQB_DB_URL": f"sqlite:///{work / 'revqb.db'}",
        "REVQB_AUTOMATION": "on",
        "REVQB_START_DATE": (now.date() - timedelta(days=1)).isoformat(),
        "REVQB_TIMEZONE": TIMEZONE,
        "DAGSTER_HOME": str(home),
    }
    saved = dict(os.environ)
    os.environ.update(env)
    receiver = None
    daemon: subprocess.Popen[bytes] | None = None
    try:
        rt = Runtime(RevqbSettings.from_env(env))
        if mode == "webhooks":
            store = EventStore(rt.engine)
            receiver = start_receiver(store, SECRET, DEFAULT_EVENT_RESOURCES, port=0)
            register(rt.revio, receiver_url(receiver.base_url, SECRET), DEFAULT_EVENT_RESOURCES)
        log = (work / "daemon.log").open("wb")
        daemon = subprocess.Popen(
            [str(Path(sys.executable).parent / "dagster-daemon"), "run", "-w", str(ROOT / "workspace.yaml")],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        customers = sorted(int(c["customer_id"]) for c in rt.revio.iter_records("Customers"))
        qbo_client = rt.qbo

        def bill(cid: int) -> tuple[int, float]:
            day = datetime.now(ZoneInfo(TIMEZONE)).date().isoformat()
            r = httpx.post(
                f"{sb.revio_url}/_admin/billing-cycle",
                json={"cycle_date": day, "customer_ids": [cid]},
                timeout=30,
            )
            r.raise_for_status()
            return int(r.json()["bill_ids"][0]), time.monotonic()

        def wait(pending: dict[int, float], latencies: dict[int, float], until: float) -> None:
            while pending and time.monotonic() < until:
                docs = ", ".join(f"'RV-{b}'" for b in pending)
                rows = qbo_client.query_rows(f"select * from Invoice where DocNumber in ({docs})")
                for row in rows:
                    b = int(str(row["DocNumber"]).removeprefix("RV-"))
                    if b in pending:
                        latencies[b] = time.monotonic() - pending.pop(b)
                time.sleep(0.5)

        warm: dict[int, float] = dict([bill(customers[0])])
        wait(warm, {}, time.monotonic() + args.timeout)
        if warm:
            raise RuntimeError(f"{mode}: the warm-up bill never reached QBO (see {work / 'daemon.log'})")
        pending: dict[int, float] = {}
        latencies: dict[int, float] = {}
        for cid in customers[1 : args.bills + 1]:
            b, t0 = bill(cid)
            pending[b] = t0
            wait(pending, latencies, time.monotonic() + args.gap)
        wait(pending, latencies, time.monotonic() + args.timeout)
        if pending:
            print(f"  {mode}: {len(pending)} bill(s) not in QBO after {args.timeout:.0f} s", flush=True)
        return list(latencies.values())
    finally:
        if daemon is not None:
            daemon.terminate()
            try:
                daemon.wait(timeout=30)
            except subprocess.TimeoutExpired:
                daemon.kill()
        if receiver is not None:
            receiver.stop()
        stop_sandboxes(sb)
        os.environ.clear()
        os.environ.update(saved)


def report(mode: str, latencies: list[float], bills: int) -> None:
    heading(f"bill created in Rev.io -> invoice in QBO, {mode}")
    figure("bills measured", f"{len(latencies)} of {bills}")
    if not latencies:
        return
    p95 = percentile(latencies, 0.95)
    figure("p50 latency (s)", statistics.median(latencies))
    if mode == "webhooks":
        figure(
            "p95 latency (s)", p95, f"goal <= {GOAL_P95_S:.0f} s: {'met' if p95 <= GOAL_P95_S else 'MISSED'}"
        )
    else:
        figure("p95 latency (s)", p95, "webhooks lost: the polling backstop (revio_changes_sensor, 60 s)")
    figure("max latency (s)", max(latencies))


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.webhook_latency", description=__doc__.split("\n")[0]
    )
    parser.add_argument(
        "--bills", type=int, default=10, help="bills measured per mode (after one warm-up bill)"
    )
    parser.add_argument("--gap", type=float, default=8.0, help="seconds between two bills")
    parser.add_argument("--latency", type=float, default=0.15, help="QBO sandbox seconds per request")
    parser.add_argument("--timeout", type=float, default=240.0, help="seconds to wait for the last invoices")
    parser.add_argument("--mode", choices=("both", "webhooks", "polling"), default="both")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    modes = ("webhooks", "polling") if args.mode == "both" else (args.mode,)
    print(
        f"revqb real-time benchmark, {date.today()}: {args.bills} bills per mode, one every {args.gap:.0f} s"
    )
    for mode in modes:
        report(mode, run_mode(mode, args), args.bills)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
