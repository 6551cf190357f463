"""Resources: Rev.io, QuickBooks Online and the staging database, configured from environment variables.

Every value comes from a ``dg.EnvVar`` (resolved when a run starts, shown in the UI as the variable's name,
never its value); an unset optional variable falls back to a non-secret default. Before a step touches
anything, :meth:`StagingResource.runtime` runs the preflight once per process and settings (only the parts
the step needs) and turns a problem into a non-retryable ``dg.Failure`` naming what to fix.
"""

from __future__ import annotations

import hashlib
import os
import threading
import time

import dagster as dg
import sqlalchemy as sa

from revqb_pipeline.defs._failures import db_failure_cause
from revqb_pipeline.defs._io import RangeFilesystemIOManager
from revqb_pipeline.preflight import PreflightFailed, ensure_ready
from revqb_pipeline.settings import DEFAULT_DB_URL, RevqbSettings, parse_flag, safe_db_url
from revqb_pipeline.sync.runtime import Runtime

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
    encrypts OAuth tokens at rest (REVQB_TOKEN_KEY)."""

    db_url: str = DEFAULT_DB_URL
    mapping_file: str = ""
    token_key: str = ""

    def settings(self, revio: RevioResource | None = None, qbo: QBOResource | None = None) -> RevqbSettings:
        """RevqbSettings from these resources only (never from the process environment)."""
        update: dict[str, object] = {
            "db_url": self.db_url or DEFAULT_DB_URL,
            "mapping_file": self.mapping_file or None,
            "token_key": self.token_key,
        }
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
        rt = Runtime(settings)
        ready(rt, need_revio=revio is not None, need_qbo=qbo is not None)
        return rt


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


@dg.definitions
def defs() -> dg.Definitions:
    return dg.Definitions(
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
            ),
        }
    )
