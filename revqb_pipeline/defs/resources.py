"""Resources: Rev.io, QuickBooks Online and the staging database, configured from environment variables.

Every value comes from a ``dg.EnvVar`` (resolved when a run starts, shown in the UI as the variable's name,
never its value); an unset optional variable falls back to a non-secret default. Before a step touches
anything, :meth:`StagingResource.runtime` runs the preflight once per process and settings (only the parts
the step needs) and turns a problem into a non-retryable ``dg.Failure`` naming what to fix.
"""

import hashlib
import os
import shutil
import tempfile
import threading
import time
from collections.abc import Mapping
from pathlib import Path

import dagster as dg
import sqlalchemy as sa
from pydantic import PrivateAttr

from revqb_pipeline import connections, entities
from revqb_pipeline.connections.config import Connection, ConnectionsFile, EnvRef, Value
from revqb_pipeline.defs._failures import db_failure_cause
from revqb_pipeline.defs._io import RangeFilesystemIOManager
from revqb_pipeline.defs._results import dagster_metadata
from revqb_pipeline.defs.partitions import bill_date_partitions
from revqb_pipeline.preflight import PreflightFailed, ensure_ready
from revqb_pipeline.settings import DEFAULT_DB_URL, RevqbSettings, parse_flag, safe_db_url
from revqb_pipeline.sync.dry_run import DryRunRuntime, dry_run
from revqb_pipeline.sync.runtime import Runtime
from revqb_pipeline.sync.steps import Step, StepResult

#: A failed preflight is remembered this long (every step of the run fails the same way, at once).
FAILED_PREFLIGHT_TTL_S = 60.0
#: Pause before checking a transient-looking preflight problem (5xx, timeout, refused) a second time.
PREFLIGHT_RECHECK_S = 2.0

_ready: dict[str, tuple[float, str | None]] = {}  # fingerprint -> (checked at, failure cause or None)
_ready_lock = threading.Lock()


def env_or(name: str, default: str = "") -> str:
    """``dg.EnvVar(name)`` when the variable is set, else ``default`` (EnvVar has no default of its own)."""
    return dg.EnvVar(name) if os.environ.get(name) else default


class RevioResource(dg.ConfigurableResource):
    """Rev.io REST API credentials (Basic auth ``login@clientcode`` plus the APIM subscription key)."""

    base_url: str = ""
    client_code: str = ""
    username: str = ""
    password: str = ""
    subscription_key: str = ""
    writeback: str = "true"  # REVQB_REVIO_WRITEBACK: write QBO invoice ids back to the Rev.io bills


class QBOResource(dg.ConfigurableResource):
    """QuickBooks Online app credentials for one realm; rotated refresh tokens are kept in the staging DB."""

    base_url: str = ""
    token_url: str = ""
    realm_id: str = ""
    client_id: str = ""
    client_secret: str = ""
    refresh_token: str = ""
    throttle_backoff_s: str = "60"


class StagingResource(dg.ConfigurableResource):
    """The staging database (SQLite file by default, PostgreSQL by URL), the mapping file and the key that
    encrypts OAuth tokens at rest (REVQB_TOKEN_KEY).

    A run tagged ``revqb/dry_run=true`` is a dry run: every step of it works on a scratch copy of the staging
    DB (one per run) with QBO and Rev.io writes withheld, and the load steps report what they would post.
    A tag, not resource config: run config given for a resource replaces its whole configuration, so a
    ``dry_run`` config field would silently drop the EnvVar-configured database URL and credentials. Dagster
    still records such a run's materializations (the partitions then show as materialized): to preview
    without that, launch ``revqb_dry_run_job`` instead."""

    db_url: str = DEFAULT_DB_URL
    mapping_file: str = ""
    token_key: str = ""
    limiter: str = "auto"  # REVQB_LIMITER: auto | db | process (where the rate limits are shared)
    limits_db_url: str = ""  # REVQB_LIMITS_DB_URL: the shared limits' database (default: the staging DB)
    _run_id: str | None = PrivateAttr(default=None)
    _dry_run: bool = PrivateAttr(default=False)

    def setup_for_execution(self, context: dg.InitResourceContext) -> None:
        run = context.run
        self._run_id = run.run_id if run is not None else None
        self._dry_run = run is not None and is_dry_run(run.tags)

    def settings(self, revio: RevioResource | None = None, qbo: QBOResource | None = None) -> RevqbSettings:
        """RevqbSettings from these resources only (never from the process environment)."""
        update: dict[str, object] = {
            "db_url": self.db_url or DEFAULT_DB_URL,
            "mapping_file": self.mapping_file or None,
            "token_key": self.token_key,
            "limits_db_url": self.limits_db_url,
        }
        limiter = (self.limiter or "auto").strip().lower()
        if limiter not in ("auto", "db", "process"):
            raise dg.Failure(
                description=f"REVQB_LIMITER: {self.limiter!r} is not one of auto, db, process",
                allow_retries=False,
            )
        update["limiter"] = limiter
        if revio is not None:
            try:
                writeback = parse_flag("REVQB_REVIO_WRITEBACK", revio.writeback, True)
            except ValueError as exc:
                raise dg.Failure(description=str(exc), allow_retries=False) from None
            update.update(
                revio_writeback=writeback,
                revio_base_url=revio.base_url,
                revio_client_code=revio.client_code,
                revio_username=revio.username,
                revio_password=revio.password,
                revio_subscription_key=revio.subscription_key,
            )
        if qbo is not None:
            try:
                backoff = float(qbo.throttle_backoff_s or 60)
            except ValueError:
                raise dg.Failure(
                    description=f"QBO_THROTTLE_BACKOFF_S: {qbo.throttle_backoff_s!r} is not a number",
                    allow_retries=False,
                ) from None
            update.update(
                qbo_base_url=qbo.base_url,
                qbo_token_url=qbo.token_url,
                qbo_realm_id=qbo.realm_id,
                qbo_client_id=qbo.client_id,
                qbo_client_secret=qbo.client_secret,
                qbo_refresh_token=qbo.refresh_token,
                qbo_throttle_backoff_s=backoff,
            )
        return RevqbSettings.from_env({}).model_copy(update=update)

    def runtime(self, revio: RevioResource | None = None, qbo: QBOResource | None = None) -> Runtime:
        """A Runtime for one step, after the (cached) preflight of what the step needs."""
        settings = self.settings(revio, qbo)
        rt = (
            DryRunRuntime(settings, scratch_path=dry_run_scratch(self._run_id))
            if self._dry_run
            else Runtime(settings)
        )
        ready(rt, need_revio=revio is not None, need_qbo=qbo is not None)
        return rt


#: The run tag that makes a run of any job a dry run (``revqb/dry_run=true``).
DRY_RUN_TAG = "revqb/dry_run"


def is_dry_run(tags: Mapping[str, str]) -> bool:
    """Whether run ``tags`` ask for a dry run (``revqb/dry_run`` = true / 1 / yes / on)."""
    return str(tags.get(DRY_RUN_TAG, "")).strip().lower() in ("true", "1", "yes", "on")


#: Scratch copies of dry runs older than this are deleted when a new one starts.
DRY_RUN_SCRATCH_TTL_S = 86_400.0


def dry_run_scratch(run_id: str | None) -> Path:
    """The scratch database of a dry run, shared by the steps of one Dagster run (under the system temp
    directory, ``revqb-dry-run/<run id>/``); copies of runs older than a day are removed."""
    root = Path(tempfile.gettempdir()) / "revqb-dry-run"
    if root.is_dir():
        for old in root.iterdir():
            try:
                if time.time() - old.stat().st_mtime > DRY_RUN_SCRATCH_TTL_S:
                    shutil.rmtree(old, ignore_errors=True)
            except OSError:
                continue
    return root / (run_id or f"process-{os.getpid()}") / "staging.db"


def _fingerprint(settings: RevqbSettings, need_revio: bool, need_qbo: bool) -> str:
    text = f"{settings.model_dump_json()}|{need_revio}|{need_qbo}"
    return hashlib.sha256(text.encode()).hexdigest()


def ready(rt: Runtime, *, need_revio: bool, need_qbo: bool) -> None:
    """Preflight once per process and settings; a problem raises a non-retryable ``dg.Failure`` naming
    what to fix, remembered for a minute so every step of the run fails at once the same way.

    A problem that may pass by itself (a 5xx, a 429, a host refusing or not answering) is checked once
    more after :data:`PREFLIGHT_RECHECK_S`; only if it persists does the step fail (a blip does not cost
    the run, an unreachable host costs seconds, not the RetryPolicy's minutes). The staging database is
    opened here too (schema created on first use), so an unusable database fails the step before any work.
    """
    key = _fingerprint(rt.settings, need_revio, need_qbo)
    with _ready_lock:
        known = _ready.get(key)
    if known is not None and (known[1] is None or time.monotonic() - known[0] < FAILED_PREFLIGHT_TTL_S):
        cause = known[1]
    else:
        cause, transient = _check(rt, need_revio=need_revio, need_qbo=need_qbo)
        if cause is not None and transient:
            time.sleep(PREFLIGHT_RECHECK_S)
            cause, transient = _check(rt, need_revio=need_revio, need_qbo=need_qbo)
        with _ready_lock:
            _ready[key] = (time.monotonic(), cause)
    if cause is not None:
        raise dg.Failure(description=cause, metadata={"preflight": True}, allow_retries=False)


def _check(rt: Runtime, *, need_revio: bool, need_qbo: bool) -> tuple[str | None, bool]:
    """(one-line cause or None, whether it may pass by itself)."""
    try:
        ensure_ready(rt.settings, need_revio=need_revio, need_qbo=need_qbo, need_db=True)
    except PreflightFailed as exc:
        return "; ".join(str(p) for p in exc.problems) or "preflight failed", exc.transient
    try:
        rt.engine  # noqa: B018 - connects and creates / migrates the schema once per process
    except sa.exc.SQLAlchemyError as exc:
        url = rt.settings.db_url
        detail = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0][:300]
        cause = db_failure_cause(exc, url)
        return (
            cause or f"REVQB_DB_URL: cannot open the staging database ({safe_db_url(url)}): {detail}",
            False,
        )
    return None, False


# ----- the dry-run job: what a sync would post, recorded as observations (no materialization) ----------


class DryRunConfig(dg.Config):
    """The bill dates to preview (``YYYY-MM-DD``); empty: the run's partition."""

    days: list[str] = []


@dg.op(
    name="revqb_dry_run",
    description=(
        "Runs the sync of the day(s) without writing to QuickBooks, Rev.io or the ledger and records, per "
        "load asset and day, what it would create / update / void / quarantine (an observation labelled "
        "DRY RUN, never a materialization), plus the accounts and items it would create."
    ),
    out=dg.Out(dg.Nothing),
)
def revqb_dry_run_op(
    context: dg.OpExecutionContext,
    config: DryRunConfig,
    staging: StagingResource,
    revio: RevioResource,
    qbo: QBOResource,
):
    days = sorted(config.days) or (sorted(context.partition_keys) if context.has_partition_key else [])
    if not days:
        raise dg.Failure(
            description="revqb_dry_run_job: pick a partition or set config days", allow_retries=False
        )
    rt = DryRunRuntime(staging.settings(revio, qbo), scratch_path=dry_run_scratch(context.run_id))
    ready(rt, need_revio=True, need_qbo=True)

    def observe(day: str, step: Step, result: StepResult) -> None:
        if step.load:
            key = dg.AssetKey([*connections.asset_prefix(), "quickbooks", step.name])
            metadata = dagster_metadata(result.metadata)
            context.log_event(dg.AssetObservation(asset_key=key, partition=day, metadata=metadata))

    summary = dry_run(rt.settings, days, entities, rt=rt, on_result=observe)
    context.log.info(summary.text())
    yield dg.Output(
        None,
        metadata={
            "dry_run": "DRY RUN: nothing was written to QuickBooks, Rev.io or the ledger",
            "summary": dg.MetadataValue.md(f"```\n{summary.text()}\n```"),
            "reference_data_would_create": len(summary.reference_data),
            "quarantined": summary.quarantined,
            "writes_withheld": summary.writes_withheld,
        },
    )


def _dry_run_job() -> dg.JobDefinition:
    @dg.job(
        name="revqb_dry_run_job",
        description=(
            "A dry run of the sync for one bill date (or config days): what would be posted, with nothing "
            "written; partitions are not marked materialized."
        ),
        partitions_def=bill_date_partitions,
        tags={"revqb/kind": "dry_run", **connections.run_tags()},
        metadata={"owners": "team:finance-ops"},
    )
    def revqb_dry_run_job() -> None:
        revqb_dry_run_op()

    return revqb_dry_run_job


def _from_connection(conn: Connection, file: ConnectionsFile | None) -> dict[str, dg.ConfigurableResource]:
    """The resources of a file connection: its literals, and ``dg.EnvVar`` for its ``{env: NAME}`` fields
    (the UI shows the variable's name, never its value)."""

    def v(value: Value | None, default: str = "") -> str:
        if isinstance(value, EnvRef):
            return dg.EnvVar(value.env) if os.environ.get(value.env) else default
        return value if value is not None else default

    return {
        "revio": RevioResource(
            base_url=v(conn.revio.base_url),
            client_code=v(conn.revio.client_code),
            username=v(conn.revio.username),
            password=v(conn.revio.password),
            subscription_key=v(conn.revio.subscription_key),
            writeback="true" if conn.revio_writeback else "false",
        ),
        "qbo": QBOResource(
            base_url=v(conn.qbo.base_url),
            token_url=v(conn.qbo.token_url),
            realm_id=v(conn.qbo.realm_id),
            client_id=v(conn.qbo.client_id),
            client_secret=v(conn.qbo.client_secret),
            refresh_token=v(conn.qbo.refresh_token),
            throttle_backoff_s=str(conn.qbo.throttle_backoff_s),
        ),
        "staging": StagingResource(
            db_url=v(conn.db_url, DEFAULT_DB_URL),
            mapping_file=conn.mapping_file or "",
            token_key=v(conn.token_key),
            limiter=env_or("REVQB_LIMITER", "auto"),
            limits_db_url=v(file.limits_db_url if file is not None else None)
            or env_or("REVQB_LIMITS_DB_URL"),
        ),
    }


@dg.definitions
def defs() -> dg.Definitions:
    conn = connections.current()
    if conn is not None:
        return dg.Definitions(
            jobs=[_dry_run_job()],
            resources={
                "io_manager": RangeFilesystemIOManager(),
                **_from_connection(conn, connections.configured()),
            },
        )
    return dg.Definitions(
        jobs=[_dry_run_job()],
        resources={
            "io_manager": RangeFilesystemIOManager(),
            "revio": RevioResource(
                base_url=env_or("REVIO_BASE_URL"),
                client_code=env_or("REVIO_CLIENT_CODE"),
                username=env_or("REVIO_USERNAME"),
                password=env_or("REVIO_PASSWORD"),
                subscription_key=env_or("REVIO_SUBSCRIPTION_KEY"),
                writeback=env_or("REVQB_REVIO_WRITEBACK", "true"),
            ),
            "qbo": QBOResource(
                base_url=env_or("QBO_BASE_URL"),
                token_url=env_or("QBO_TOKEN_URL"),
                realm_id=env_or("QBO_REALM_ID"),
                client_id=env_or("QBO_CLIENT_ID"),
                client_secret=env_or("QBO_CLIENT_SECRET"),
                refresh_token=env_or("QBO_REFRESH_TOKEN"),
                throttle_backoff_s=env_or("QBO_THROTTLE_BACKOFF_S", "60"),
            ),
            "staging": StagingResource(
                db_url=env_or("REVQB_DB_URL", DEFAULT_DB_URL),
                mapping_file=env_or("REVQB_MAPPING_FILE"),
                token_key=env_or("REVQB_TOKEN_KEY"),
                limiter=env_or("REVQB_LIMITER", "auto"),
                limits_db_url=env_or("REVQB_LIMITS_DB_URL"),
            ),
        },
    )
