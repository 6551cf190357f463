"""Preflight: are the settings present, do both APIs answer and accept the credentials, is the DB reachable,
is the mapping file valid?

Used by ``revqb check``, at the start of ``sync`` / ``retry`` / ``demo`` / ... and by the Dagster resources
before a run touches anything. Each problem is one line naming what to fix (an environment variable, or
``file:line`` of the mapping); nothing here raises a traceback. Every network check runs under a short
timeout, and the whole preflight under one deadline (``timeout_s`` + a margin), so an unreachable host
cannot hold it up.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from revqb_pipeline.settings import RevqbSettings, env_name, safe_db_url

REVIO_REQUIRED = (
    "revio_base_url",
    "revio_client_code",
    "revio_username",
    "revio_password",
    "revio_subscription_key",
)
QBO_REQUIRED = ("qbo_base_url", "qbo_token_url", "qbo_realm_id", "qbo_client_id", "qbo_client_secret")
DB_CONNECT_TIMEOUT_S = 5.0


@dataclass(frozen=True)
class Problem:
    """One thing to fix: ``setting`` names it (an env var, or ``file:line`` of the mapping).

    ``transient``: the cause may go away by itself (a 5xx, a 429): worth retrying later, not a config error.
    """

    setting: str
    message: str
    transient: bool = field(default=False, compare=False)

    def __str__(self) -> str:
        return f"{self.setting}: {self.message}"


class PreflightFailed(Exception):
    """Raised by :func:`ensure_ready`; ``str()`` is one line per problem."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = list(problems)
        super().__init__("\n".join(str(p) for p in self.problems))

    @property
    def transient(self) -> bool:
        """True when every problem may go away by itself (retry later rather than fix a setting)."""
        return bool(self.problems) and all(p.transient for p in self.problems)


@dataclass
class Check:
    """The outcome of one area (settings, database, mapping, Rev.io, QuickBooks Online)."""

    name: str
    ok_detail: str = ""
    problems: list[Problem] = field(default_factory=list)
    skipped: str = ""
    #: The service answered 429 / 5xx: asking again in a moment may pass (timeouts are not retried).
    retryable: bool = False

    @property
    def ok(self) -> bool:
        return not self.problems and not self.skipped


def load_settings(env: Mapping[str, str] | None = None) -> RevqbSettings:
    """Settings from the environment and ``.env``; a bad value raises :class:`PreflightFailed` naming it."""
    try:
        return RevqbSettings.from_env(env)
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            name = str(err["loc"][0]) if err["loc"] else "settings"
            var = name if name.isupper() else env_name(name)
            value = err.get("input")
            secret = any(w in var for w in ("PASSWORD", "SECRET", "TOKEN", "KEY", "DB_URL"))
            shown = f" (got {value!r})" if isinstance(value, str) and not secret else ""
            problems.append(Problem(var, f"{err['msg']}{shown}"))
        raise PreflightFailed(problems) from None


# ----------------------------------------------------------------------------------------- settings
def _url_problem(name: str, value: str) -> Problem | None:
    if (
        not value.startswith(("http://", "https://"))
        or "://" not in value
        or len(value.split("://", 1)[1]) < 1
    ):
        return Problem(name, f"{value!r} is not an http(s) URL")
    return None


def check_settings(
    settings: RevqbSettings, *, need_revio: bool = True, need_qbo: bool = True
) -> list[Problem]:
    """Required settings present and well-formed (no network)."""
    from revqb_pipeline.settings import PRODUCTION_URLS

    problems: list[Problem] = []
    required = (REVIO_REQUIRED if need_revio else ()) + (QBO_REQUIRED if need_qbo else ())
    for name in required:
        value = str(getattr(settings, name) or "").strip()
        var = env_name(name)
        if not value:
            hint = f" (production: {PRODUCTION_URLS[var]})" if var in PRODUCTION_URLS else ""
            problems.append(Problem(var, f"not set; set it in the environment or in .env{hint}"))
        elif name.endswith("_url") and (bad := _url_problem(var, value)) is not None:
            problems.append(bad)
    if settings.token_key:
        problems.extend(_token_key_problems(settings.token_key))
    return problems


def _token_key_problems(keys: str) -> list[Problem]:
    from cryptography.fernet import Fernet

    for i, key in enumerate(k.strip() for k in keys.split(",")):
        try:
            Fernet(key.encode())
        except (ValueError, TypeError):
            which = "the key" if "," not in keys else f"key #{i + 1}"
            return [
                Problem(
                    "REVQB_TOKEN_KEY",
                    f"{which} is not a Fernet key (32 url-safe base64 bytes; make one with `python -c "
                    "'from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())'`)",
                )
            ]
    return []


# ----------------------------------------------------------------------------------------- database
def sqlite_path(url: str) -> Path | None:
    """The file of a SQLite URL (None for other databases and in-memory ones)."""
    from sqlalchemy.engine import make_url

    u = make_url(url)
    if u.get_backend_name() != "sqlite" or not u.database or u.database == ":memory:":
        return None
    if u.database.startswith("file:"):
        return None
    return Path(u.database).expanduser()


def check_db(settings: RevqbSettings, *, must_exist: bool = False) -> Check:
    """The staging database answers ``select 1`` within a few seconds (PostgreSQL) or its folder can be
    used (SQLite); with ``must_exist`` a SQLite file that is not there is a problem (never create an
    empty ledger for a read-only command)."""
    from sqlalchemy.engine import make_url

    from revqb_pipeline.staging.db import ping

    shown = safe_db_url(settings.db_url)
    check = Check("staging database")
    try:
        url = make_url(settings.db_url)
    except Exception as exc:  # sqlalchemy raises ArgumentError; keep the message short
        check.problems.append(Problem("REVQB_DB_URL", f"not a database URL ({type(exc).__name__})"))
        return check
    path = sqlite_path(settings.db_url)
    if path is not None:
        if must_exist and not path.exists():
            check.problems.append(
                Problem(
                    "REVQB_DB_URL",
                    f"no staging database at {path} (nothing synced there yet); point REVQB_DB_URL at "
                    "the existing one, or run `revqb sync` first",
                )
            )
            return check
        if not path.exists():
            # Nothing to connect to yet: the first sync creates it. Only check that it can (no file now).
            ancestor = path.parent
            while not ancestor.exists() and ancestor != ancestor.parent:
                ancestor = ancestor.parent
            if not ancestor.is_dir() or not os.access(ancestor, os.W_OK | os.X_OK):
                check.problems.append(
                    Problem("REVQB_DB_URL", f"cannot create {path}: {ancestor} is not a writable folder")
                )
            else:
                check.ok_detail = f"{shown} (created by the first sync)"
            return check
    backend = url.get_backend_name()
    try:
        ping(url, DB_CONNECT_TIMEOUT_S)
    except ModuleNotFoundError as exc:
        check.problems.append(
            Problem("REVQB_DB_URL", f"the driver for {backend} is not installed ({exc.name})")
        )
    except Exception as exc:  # OperationalError & co: one line, never the password
        check.problems.append(Problem("REVQB_DB_URL", f"cannot connect to {shown}: {_db_reason(exc)}"))
    else:
        check.ok_detail = shown
    return check


def _db_reason(exc: BaseException) -> str:
    orig = getattr(exc, "orig", None) or exc
    text = " ".join(str(orig).split())
    return (text[:200] or type(orig).__name__).replace("\n", " ")


# ----------------------------------------------------------------------------------------- mapping
def check_mapping(settings: RevqbSettings) -> Check:
    """The mapping file (``REVQB_MAPPING_FILE`` or the packaged default) loads; problems name file:line."""
    from revqb_pipeline.mapping.config import MappingConfigError, load_mapping

    check = Check("mapping file")
    try:
        load_mapping(settings.mapping_file)
    except MappingConfigError as exc:
        check.problems = [Problem(where, message) for where, message in exc.issues]
    else:
        check.ok_detail = settings.mapping_file or "packaged default"
    return check


# ----------------------------------------------------------------------------------------- Rev.io
def check_revio(settings: RevqbSettings, timeout_s: float = 5.0) -> Check:
    """One cheap authenticated call (one customer) with no retries."""
    from revqb_pipeline.clients.errors import (
        ClientConfigError,
        RevioAuthError,
        RevioError,
        RevioNotFound,
        RevioTransportError,
    )
    from revqb_pipeline.clients.revio import RevioClient

    check = Check("Rev.io")
    client = RevioClient(
        settings.revio_base_url,
        settings.revio_client_code,
        settings.revio_username,
        settings.revio_password,
        settings.revio_subscription_key,
        timeout=timeout_s,
        max_retries=0,
    )
    try:
        client.get_json("/Customers", {"search.page_size": "1", "search.page": "1"})
    except RevioAuthError as exc:
        if "subscription key" in exc.message.lower():
            check.problems.append(
                Problem("REVIO_SUBSCRIPTION_KEY", f"Rev.io rejected the APIM key ({exc.message})")
            )
        elif exc.status == 403:
            check.problems.append(
                Problem(
                    "REVIO_USERNAME",
                    f"Rev.io answered 403 for {settings.revio_username}@{settings.revio_client_code}: "
                    f"{exc.message} (no permission, or the daily quota is used up)",
                )
            )
        else:
            check.problems.append(
                Problem(
                    "REVIO_PASSWORD",
                    f"Rev.io rejected the login {settings.revio_username}@{settings.revio_client_code} "
                    f"({exc.status} {exc.message}); check REVIO_USERNAME, REVIO_CLIENT_CODE and "
                    "REVIO_PASSWORD",
                )
            )
    except RevioNotFound:
        check.problems.append(
            Problem("REVIO_BASE_URL", f"no Rev.io API at {client.base_url} (404 for /Customers)")
        )
    except RevioTransportError as exc:
        cause = type(exc.cause).__name__ if exc.cause is not None else "no answer"
        check.problems.append(
            Problem(
                "REVIO_BASE_URL",
                f"cannot reach Rev.io at {client.base_url} ({cause} within {timeout_s:g}s)",
                transient=True,
            )
        )
    except ClientConfigError as exc:
        check.problems.append(Problem(exc.setting, exc.message))
    except RevioError as exc:
        check.retryable = exc.transient
        check.problems.append(
            Problem(
                "REVIO_BASE_URL",
                f"Rev.io at {client.base_url} answered {exc.status or 'nothing usable'}: {exc.message[:200]}",
                transient=exc.transient,
            )
        )
    else:
        check.ok_detail = f"{client.base_url} accepts {settings.revio_username}@{settings.revio_client_code}"
    finally:
        client.close()
    return check


# ----------------------------------------------------------------------------------------- QBO
def check_qbo(settings: RevqbSettings, timeout_s: float = 5.0, *, verify_refresh: bool = False) -> Check:
    """The company (realm) can be read with the stored tokens, refreshing only when the access token has
    expired (the rotated token is persisted in the staging DB as the client always does).

    ``verify_refresh`` (``revqb check``) refreshes in any case, proving the client id / secret and the
    refresh token now rather than at the next expiry; runs leave it off so that a run or step costs no
    token rotation while the access token is valid."""
    import httpx

    from revqb_pipeline.clients.errors import (
        ClientConfigError,
        OAuthError,
        QBOAuthError,
        QBOError,
        QBOTransportError,
    )
    from revqb_pipeline.staging.tokens import TokenStoreError
    from revqb_pipeline.sync.runtime import build_qbo, engine_for

    check = Check("QuickBooks Online")
    realm = settings.qbo_realm_id
    try:
        qbo = build_qbo(settings, engine_for(settings.db_url))
    except TokenStoreError as exc:
        check.problems.append(_token_problem(exc))
        return check
    _shorten(qbo, timeout_s)
    try:
        store = qbo.oauth._store
        stored = store.load(realm)
        if stored is None:
            check.problems.append(
                Problem(
                    "QBO_REFRESH_TOKEN",
                    f"not set, and the staging database holds no tokens for realm {realm}; connect the app "
                    "to the company and set QBO_REFRESH_TOKEN to its refresh token",
                )
            )
            return check
        if verify_refresh:
            qbo.oauth.refresh()  # proves client id/secret + refresh token; the rotated token is saved
        company = qbo.company_info()
    except TokenStoreError as exc:
        check.problems.append(_token_problem(exc))
    except ClientConfigError as exc:
        check.problems.append(Problem(exc.setting, exc.message))
    except OAuthError as exc:
        check.retryable = exc.transient and exc.status != 0
        check.problems.append(_oauth_problem(exc, settings))
    except QBOAuthError as exc:
        check.problems.append(
            Problem(
                "QBO_REALM_ID",
                f"QuickBooks refused company {realm} ({exc.status} {exc.message or exc.code}); set "
                "QBO_REALM_ID to the company the app was connected to",
            )
        )
    except QBOTransportError as exc:
        check.problems.append(
            Problem(
                "QBO_BASE_URL",
                f"cannot reach QuickBooks at {settings.qbo_base_url} ({_cause(exc)} within {timeout_s:g}s)",
                transient=True,
            )
        )
    except QBOError as exc:
        check.retryable = exc.transient
        where = "QBO_REALM_ID" if exc.status in (400, 403, 404) else "QBO_BASE_URL"
        check.problems.append(
            Problem(where, f"QuickBooks answered for company {realm}: {exc}", transient=exc.transient)
        )
    except httpx.HTTPError as exc:
        check.problems.append(Problem("QBO_BASE_URL", f"QuickBooks request failed: {type(exc).__name__}"))
    else:
        name = company.get("CompanyName") or company.get("LegalName") or "?"
        token = "token refreshed and stored" if verify_refresh else "token valid"
        check.ok_detail = f"company {realm} ({name}) at {settings.qbo_base_url}; {token}"
    finally:
        qbo.close()
        qbo.oauth.close()
    return check


def _token_problem(exc: BaseException) -> Problem:
    """A token store error (its message names REVQB_TOKEN_KEY or the realm, never a token) as one line."""
    text = " ".join(str(exc).split())
    if text.startswith("REVQB_TOKEN_KEY: "):
        return Problem("REVQB_TOKEN_KEY", text.removeprefix("REVQB_TOKEN_KEY: "))
    return Problem("REVQB_DB_URL", f"the QBO tokens in the staging database cannot be used: {text}")


def _retrying(fn: Callable[[], Check], deadline: float, attempts: int = 3) -> Check:
    """``fn`` again (after 0.5 s, 1 s) while the service answers 429 / 5xx and the deadline allows."""
    check = fn()
    for attempt in range(1, attempts):
        pause = 0.5 * attempt
        if not check.retryable or time.monotonic() + pause + 6.0 > deadline:
            break
        time.sleep(pause)
        check = fn()
    return check


def _shorten(qbo: Any, timeout_s: float) -> None:
    """No retries and short timeouts for a check (the clients' defaults suit a sync, not a preflight)."""
    import httpx

    qbo.max_retries = 0
    qbo._http.timeout = httpx.Timeout(timeout_s)
    qbo.oauth._max_retries = 0
    qbo.oauth._http.timeout = httpx.Timeout(timeout_s)


def _cause(exc: BaseException) -> str:
    cause = getattr(exc, "cause", None) or exc.__cause__
    return type(cause).__name__ if cause is not None else "no answer"


def _oauth_problem(exc: Any, settings: RevqbSettings) -> Problem:
    desc = f"{exc.error}" + (f": {exc.description}" if exc.description else "")
    if exc.error in ("invalid_client", "unauthorized_client"):
        return Problem(
            "QBO_CLIENT_SECRET",
            f"the QBO token endpoint rejected the app credentials ({desc}); check QBO_CLIENT_ID and "
            "QBO_CLIENT_SECRET",
        )
    if exc.error == "invalid_grant":
        return Problem(
            "QBO_REFRESH_TOKEN",
            f"QuickBooks rejected the refresh token for realm {settings.qbo_realm_id} ({desc}); reconnect "
            "the app and set QBO_REFRESH_TOKEN to the new refresh token",
        )
    if exc.error == "transport_error" or exc.status == 0:
        return Problem(
            "QBO_TOKEN_URL",
            f"cannot reach the QBO token endpoint {settings.qbo_token_url} "
            f"({exc.description or 'no answer'})",
            transient=True,
        )
    if exc.status == 404:
        return Problem("QBO_TOKEN_URL", f"no OAuth token endpoint at {settings.qbo_token_url} (404)")
    return Problem("QBO_TOKEN_URL", f"the token endpoint answered: {desc}", transient=exc.transient)


# ----------------------------------------------------------------------------------------- all
def _run_with_deadline(fn: Callable[[], Check], name: str, deadline: float, setting: str) -> Check:
    """Run ``fn`` in a daemon thread; past ``deadline`` report it as not answering (never hang)."""
    box: list[Check] = []
    errors: list[BaseException] = []

    def target() -> None:
        try:
            box.append(fn())
        except Exception as exc:  # an unexpected failure is still one line
            errors.append(exc)

    t = threading.Thread(target=target, name=f"preflight-{name}", daemon=True)
    t.start()
    t.join(max(0.0, deadline - time.monotonic()))
    if box:
        return box[0]
    if errors:
        exc = errors[0]
        return Check(name, problems=[Problem(setting, f"{name} check failed: {type(exc).__name__}: {exc}")])
    return Check(name, problems=[Problem(setting, f"{name} did not answer in time", transient=True)])


def run_checks(
    settings: RevqbSettings,
    *,
    need_revio: bool = True,
    need_qbo: bool = True,
    need_db: bool = True,
    need_mapping: bool | None = None,
    db_must_exist: bool = False,
    timeout_s: float = 10.0,
    verify_refresh: bool = False,
) -> list[Check]:
    """Every check, in order: settings, database, mapping, Rev.io, QuickBooks Online (Rev.io and the
    database/QBO pair run in parallel; QBO needs the database, where the rotated token is kept)."""
    with _quiet_clients():
        return _run_checks(
            settings, need_revio, need_qbo, need_db, need_mapping, db_must_exist, timeout_s, verify_refresh
        )


@contextmanager
def _quiet_clients() -> Iterator[None]:
    """The clients log each refused call as a warning; a preflight reports it once, as a Problem."""
    logger = logging.getLogger("revqb")
    level = logger.level
    logger.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        logger.setLevel(level)


def _run_checks(
    settings: RevqbSettings,
    need_revio: bool,
    need_qbo: bool,
    need_db: bool,
    need_mapping: bool | None,
    db_must_exist: bool,
    timeout_s: float,
    verify_refresh: bool = False,
) -> list[Check]:
    need_mapping = need_revio if need_mapping is None else need_mapping
    deadline = time.monotonic() + timeout_s + 2.0
    per_call = min(5.0, max(1.0, timeout_s / 2))
    setting_problems = check_settings(settings, need_revio=need_revio, need_qbo=need_qbo)
    checks = [Check("settings", ok_detail="present", problems=setting_problems)]
    missing = {p.setting for p in setting_problems}

    results: dict[str, Check] = {}

    def revio_job() -> None:
        if not need_revio:
            return
        if missing & {env_name(n) for n in REVIO_REQUIRED}:
            results["revio"] = Check("Rev.io", skipped="settings missing")
            return
        results["revio"] = _run_with_deadline(
            lambda: _retrying(lambda: check_revio(settings, per_call), deadline),
            "Rev.io",
            deadline,
            "REVIO_BASE_URL",
        )

    def db_qbo_job() -> None:
        db_ok = True
        if need_db or need_qbo:
            results["db"] = _run_with_deadline(
                lambda: check_db(settings, must_exist=db_must_exist),
                "staging database",
                deadline,
                "REVQB_DB_URL",
            )
            db_ok = results["db"].ok
            if not need_db and db_ok:
                del results["db"]
        if not need_qbo:
            return
        if missing & ({env_name(n) for n in QBO_REQUIRED} | {"REVQB_TOKEN_KEY"}):
            results["qbo"] = Check("QuickBooks Online", skipped="settings missing or malformed")
        elif not db_ok:
            results["qbo"] = Check(
                "QuickBooks Online", skipped="needs the staging database (it keeps the rotated token)"
            )
        else:
            results["qbo"] = _run_with_deadline(
                lambda: _retrying(
                    lambda: check_qbo(settings, per_call, verify_refresh=verify_refresh), deadline
                ),
                "QuickBooks Online",
                deadline,
                "QBO_BASE_URL",
            )

    side = threading.Thread(target=revio_job, daemon=True)
    side.start()
    db_qbo_job()
    side.join(max(0.0, deadline - time.monotonic()))
    if need_revio and "revio" not in results:
        results["revio"] = Check(
            "Rev.io", problems=[Problem("REVIO_BASE_URL", "Rev.io did not answer in time", transient=True)]
        )
    if "db" in results:
        checks.append(results["db"])
    if need_mapping:
        checks.append(check_mapping(settings))
    for key in ("revio", "qbo"):
        if key in results:
            checks.append(results[key])
    return checks


def preflight(
    settings: RevqbSettings,
    *,
    need_revio: bool = True,
    need_qbo: bool = True,
    need_db: bool = True,
    timeout_s: float = 10.0,
    need_mapping: bool | None = None,
    db_must_exist: bool = False,
    verify_refresh: bool = False,
) -> list[Problem]:
    """Every problem found (empty when ready). ``need_mapping`` defaults to ``need_revio``."""
    checks = run_checks(
        settings,
        verify_refresh=verify_refresh,
        need_revio=need_revio,
        need_qbo=need_qbo,
        need_db=need_db,
        need_mapping=need_mapping,
        db_must_exist=db_must_exist,
        timeout_s=timeout_s,
    )
    return [p for c in checks for p in c.problems]


def ensure_ready(settings: RevqbSettings, **kwargs: Any) -> None:
    """Raise :class:`PreflightFailed` when :func:`preflight` finds anything."""
    problems = preflight(settings, **kwargs)
    if problems:
        raise PreflightFailed(problems)
