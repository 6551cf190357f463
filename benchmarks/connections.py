"""Connections benchmark (issue 13): three QBO realms synced in parallel vs one realm, on the same machine.

``python -m benchmarks.connections [--invoices 150] [--realms 3] [--time-scale 0.25] [--latency 0.5]``

1. A child process (``--serve``) runs one QBO sandbox (its real per-realm limits: 500/min, 10/s,
   10 concurrent, 40 batches/min, in simulated time with ``--latency`` simulated seconds per request) and
   one Rev.io sandbox per connection (its own tenant, 500 calls/min), so the pipeline's processes are
   measured apart from the servers.
2. One worker process per connection (``--worker``): its own realm, tenant, staging DB (SQLite) and Dagster
   instance, as one code location per connection runs it; the realm and tenant limiters are registered
   with the sandbox's time scale. Each worker imports the pipeline and connects, then waits for ``go``, so
   the timed part is the sync alone: January 2026's active days (the billing day 2026-01-01 has about
   ``--invoices`` invoices, its customers created the same run; then the month's payments, credits and
   new customers) as one range run of the real Dagster job (``revqb sync --days-per-run 31``), then
   ``entities.reconcile``.
3. Phase one: one connection alone. Phase two: ``--realms`` other connections at once. Throughput =
   invoices synced / wall seconds (first ``go`` to last finish); the ratio of the two is the scale-out
   factor (goal >= 2.5x with three realms). Each realm's sandbox counters (429s, peak concurrency) are
   printed; every connection must reconcile to the cent.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from datetime import date
from pathlib import Path
from typing import Any

from benchmarks.common import QBOStats, figure, heading, quiet_logging, ratio

START = date(2026, 1, 1)
BILLING_DAY_SHARE = 0.75 * 0.75  # see benchmarks/scale.py
ROOT = Path(__file__).resolve().parent.parent


def realm_of(n: int) -> str:
    return f"46208163650{n:02d}"


# ----------------------------------------------------------------------------- the sandboxes' child
def serve(tenants: int, customers: int, seed: int, time_scale: float, latency_s: float) -> int:
    """One QBO sandbox and ``tenants`` Rev.io sandboxes until stdin closes; print their addresses first."""
    from revqb_sandbox.harness import serve_app
    from revqb_sandbox.qbo.app import create_app as create_qbo_app
    from revqb_sandbox.qbo.settings import QBOSandboxSettings
    from revqb_sandbox.revio.app import create_app as create_revio_app
    from revqb_sandbox.revio.settings import RevioSandboxSettings

    qbo_settings = QBOSandboxSettings(
        seed=seed, time_scale=time_scale, request_latency_s=latency_s, retry_after_s=1
    )
    qbo = serve_app(create_qbo_app(qbo_settings))
    revios = []
    for n in range(tenants):
        settings = RevioSandboxSettings(
            seed=seed + n, customers=customers, months=1, start=START, time_scale=time_scale,
            client_code=f"tenant{n}",
        )  # fmt: skip
        revios.append((settings, serve_app(create_revio_app(settings))))
    try:
        info = {
            "qbo_url": qbo.url,
            "qbo": qbo_settings.model_dump(mode="json"),
            "revio": [{"url": srv.url, **s.model_dump(mode="json")} for s, srv in revios],
        }
        print(json.dumps(info), flush=True)
        for _ in sys.stdin:
            pass
    finally:
        for _, srv in revios:
            srv.stop()
        qbo.stop()
    return 0


def refresh_token(qbo_url: str, qbo: dict[str, Any], realm: str) -> str:
    """Connect the app to ``realm`` (authorization code -> refresh token), as a user would."""
    import httpx

    code = httpx.post(f"{qbo_url}/_admin/oauth/authorize", json={"realm_id": realm}).json()["code"]
    response = httpx.post(
        f"{qbo_url}/oauth2/v1/tokens/bearer",
        data={"grant_type": "authorization_code", "code": code, "redirect_uri": qbo["redirect_uri"]},
        auth=(qbo["client_id"], qbo["client_secret"]),
    )
    response.raise_for_status()
    return str(response.json()["refresh_token"])


def connection_env(info: dict[str, Any], n: int, tmp: Path) -> dict[str, str]:
    """The settings of connection ``n`` (tenant ``n`` -> realm ``n``), its own DB and Dagster home."""
    revio, qbo = info["revio"][n], info["qbo"]
    realm = realm_of(n)
    home = tmp / f"home{n}"
    home.mkdir(parents=True, exist_ok=True)
    (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    return {
        "REVIO_BASE_URL": f"{revio['url']}/v1",
        "REVIO_CLIENT_CODE": revio["client_code"],
        "REVIO_USERNAME": revio["login"],
        "REVIO_PASSWORD": revio["password"],
        "REVIO_SUBSCRIPTION_KEY": revio["subscription_key"],
        "QBO_BASE_URL": info["qbo_url"],
        "QBO_TOKEN_URL": f"{info['qbo_url']}/oauth2/v1/tokens/bearer",
        "QBO_REALM_ID": realm,
        "QBO_CLIENT_ID": qbo["client_id"],
        "QBO_CLIENT_SECRET": qbo["client_secret"],
        "QBO_REFRESH_TOKEN": refresh_token(info["qbo_url"], qbo, realm),
        "QBO_THROTTLE_BACKOFF_S": "0.5",
        "REVQB_DB_URL": f"sqlite:///{tmp / f'conn{n}.db'}",
        "DAGSTER_HOME": str(home),
    }


# ----------------------------------------------------------------------------- one connection's worker
def worker(time_scale: float) -> int:
    """Sync the billing day of the connection in the environment once told ``go``; print the result."""
    import io

    import dagster as dg

    from revqb_pipeline.cli import activity_dates, run_partitions
    from revqb_pipeline.clients.ratelimit import limiter_for, reset_limiters, revio_limiter_for
    from revqb_pipeline.definitions import defs
    from revqb_pipeline.entities import reconcile
    from revqb_pipeline.settings import RevqbSettings
    from revqb_pipeline.sync.runtime import Runtime

    quiet_logging()
    settings = RevqbSettings.from_env(dict(os.environ))
    reset_limiters()
    limiter_for(settings.qbo_realm_id, time_scale=time_scale)
    revio_limiter_for(settings.revio_base_url, settings.revio_client_code, time_scale=time_scale)
    defs().resolve_job_def("revqb_sync_job")  # load the definitions before the clock starts
    Runtime(settings).qbo.count("Invoice")  # token exchange and the realm's reference data, untimed
    days = activity_dates(settings, START, date(2026, 1, 31))
    with dg.DagsterInstance.get() as instance:
        print("ready", flush=True)
        sys.stdin.readline()
        started, cpu0 = time.time(), time.process_time()
        with contextlib.redirect_stdout(io.StringIO()):
            report = run_partitions(days, job_name="revqb_sync_job", instance=instance, days_per_run=31)
        finished, cpu = time.time(), time.process_time() - cpu0
    results = reconcile(Runtime(settings))
    out = {
        "ok": bool(report),
        "started": started,
        "finished": finished,
        "cpu_s": cpu,
        "reconciled": all(r.agrees for r in results),
        "differences": [d for r in results for d in r.differences[:2]],
        "revio_cents": sum(r.revio_total_cents for r in results),
        "days": len(days),
    }
    print(json.dumps(out), flush=True)
    return 0


@contextlib.contextmanager
def child(args: list[str], env: dict[str, str] | None = None) -> Iterator[subprocess.Popen[str]]:
    cmd = [sys.executable, "-m", "benchmarks.connections", *args]
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        yield proc
    finally:
        with contextlib.suppress(OSError):
            assert proc.stdin is not None
            proc.stdin.close()
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def phase(info: dict[str, Any], ids: list[int], tmp: Path, time_scale: float) -> dict[str, Any]:
    """Sync connections ``ids`` at once; wall time from the first ``go`` to the last finish."""
    base = {k: v for k, v in os.environ.items() if not k.startswith(("REVQB_", "REVIO_", "QBO_", "DAGSTER_"))}
    with contextlib.ExitStack() as stack:
        procs = [
            stack.enter_context(
                child(["--worker", "--time-scale", str(time_scale)], {**base, **connection_env(info, n, tmp)})
            )
            for n in ids
        ]
        for p in procs:
            assert p.stdout is not None
            line = p.stdout.readline().strip()
            if line != "ready":
                raise RuntimeError(f"a worker did not start (exit {p.wait()}): {line!r}")
        before = {n: QBOStats.fetch(info["qbo_url"], realm_of(n)) for n in ids}
        for p in procs:
            assert p.stdin is not None
            p.stdin.write("go\n")
            p.stdin.flush()
        results = [json.loads(p.stdout.readline()) for p in procs if p.stdout is not None]
    stats = {n: QBOStats.fetch(info["qbo_url"], realm_of(n)).minus(before[n]) for n in ids}
    wall = max(r["finished"] for r in results) - min(r["started"] for r in results)
    invoices = sum((s.entities or {}).get("Invoice", 0) for s in stats.values())
    return {"wall_s": wall, "invoices": invoices, "results": results, "stats": stats}


def report(name: str, ph: dict[str, Any]) -> float:
    heading(name)
    figure("connections", len(ph["results"]))
    figure("invoices created in QBO", ph["invoices"])
    figure("wall time, s", round(ph["wall_s"], 1))
    figure("pipeline CPU, s (sum of workers)", round(sum(r["cpu_s"] for r in ph["results"]), 1))
    throughput = ph["invoices"] / ph["wall_s"] if ph["wall_s"] else 0.0
    figure("throughput, invoices/s", round(throughput, 2))
    for n, s in ph["stats"].items():
        figure(
            f"realm {realm_of(n)}",
            f"{s.requests} requests, {s.batches} batches, 429s {s.throttled_429}, peak concurrency "
            f"{s.peak_concurrency}",
        )
    ok = all(r["ok"] and r["reconciled"] for r in ph["results"])
    figure(
        "all runs succeeded and reconcile to the cent",
        ok,
        "; ".join(d for r in ph["results"] for d in r["differences"]),
    )
    return throughput


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.connections", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--invoices", type=int, default=150, help="invoices on each connection's billing day")
    parser.add_argument("--realms", type=int, default=3, help="connections synced in parallel")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--time-scale", type=float, default=0.25, help="real seconds per simulated second")
    parser.add_argument("--latency", type=float, default=0.5, help="simulated QBO seconds per request")
    parser.add_argument("--serve", type=int, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--customers", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve is not None:
        return serve(args.serve, args.customers, args.seed, args.time_scale, args.latency)
    if args.worker:
        return worker(args.time_scale)

    customers = max(1, round(args.invoices / BILLING_DAY_SHARE))
    tenants = 1 + args.realms
    serve_args = ["--serve", str(tenants), "--customers", str(customers), "--seed", str(args.seed)]
    serve_args += ["--time-scale", str(args.time_scale), "--latency", str(args.latency)]
    print(
        f"  {args.realms} realms vs 1, ~{args.invoices} invoices each, time scale {args.time_scale}, "
        f"QBO latency {args.latency} s (simulated), {os.cpu_count()} CPUs",
        flush=True,
    )
    tmp = Path(tempfile.mkdtemp(prefix="revqb-connections-"))
    with child(serve_args) as sandboxes:
        assert sandboxes.stdout is not None
        info = json.loads(sandboxes.stdout.readline())
        single = phase(info, [0], tmp, args.time_scale)
        parallel = phase(info, list(range(1, tenants)), tmp, args.time_scale)
    one = report("one realm", single)
    many = report(f"{args.realms} realms in parallel", parallel)
    heading("scale-out")
    figure(f"throughput ratio, {args.realms} realms / 1 realm", round(ratio(many, one), 2), "goal >= 2.5")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
