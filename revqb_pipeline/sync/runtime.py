"""Building clients, ledger and store from settings (shared by the Dagster resources and the CLI)."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

from sqlalchemy.engine import Engine

from revqb_pipeline.clients.oauth import OAuthClient
from revqb_pipeline.clients.qbo import QBOClient
from revqb_pipeline.clients.revio import RevioClient
from revqb_pipeline.mapping.config import MappingConfig, load_mapping
from revqb_pipeline.settings import RevqbSettings
from revqb_pipeline.staging.db import create_schema, make_engine
from revqb_pipeline.staging.ledger import Ledger
from revqb_pipeline.staging.limits import qbo_limiter, revio_limiter
from revqb_pipeline.staging.store import StagingStore
from revqb_pipeline.staging.tokens import SqlTokenStore

_ENGINES: dict[str, Engine] = {}


def engine_for(url: str) -> Engine:
    """One engine per database URL per process, with the schema created or migrated on first use."""
    if url not in _ENGINES:
        engine = make_engine(url)
        create_schema(engine)
        _ENGINES[url] = engine
    return _ENGINES[url]


def limits_engine(settings: RevqbSettings, engine: Engine) -> Engine:
    """Where the shared rate limits live: REVQB_LIMITS_DB_URL when set, else the staging database."""
    return engine_for(settings.limits_db_url) if settings.limits_db_url else engine


def build_revio(settings: RevqbSettings, engine: Engine | None = None) -> RevioClient:
    """A Rev.io client behind its tenant's limiter (shared through the database with REVQB_LIMITER=db;
    without an engine, e.g. a one-call preflight, the in-process limiter)."""
    limiter = None
    if engine is not None:
        limiter = revio_limiter(
            settings.limiter,
            limits_engine(settings, engine),
            settings.revio_base_url,
            settings.revio_client_code,
        )
    return RevioClient(
        settings.revio_base_url,
        settings.revio_client_code,
        settings.revio_username,
        settings.revio_password,
        settings.revio_subscription_key,
        limiter=limiter,
    )


def build_qbo(settings: RevqbSettings, engine: Engine) -> QBOClient:
    """A QBO client whose rotated refresh token is persisted in the staging database."""
    store = SqlTokenStore(engine, settings.token_key)
    oauth = OAuthClient(
        settings.qbo_token_url,
        settings.qbo_client_id,
        settings.qbo_client_secret,
        store,
        settings.qbo_realm_id,
    )
    if settings.qbo_refresh_token:  # first use, or a new QBO_REFRESH_TOKEN after reconnecting the app
        store.seed(settings.qbo_realm_id, settings.qbo_refresh_token)
    return QBOClient(
        settings.qbo_base_url,
        settings.qbo_realm_id,
        oauth,
        limiter=qbo_limiter(settings.limiter, limits_engine(settings, engine), settings.qbo_realm_id),
        throttle_backoff_s=settings.qbo_throttle_backoff_s,
    )


@dataclass
class Runtime:
    """Everything one sync needs, built lazily from settings."""

    settings: RevqbSettings = field(default_factory=RevqbSettings.from_env)

    @property
    def dry_run(self) -> bool:
        """True on a dry run (``sync/dry_run.py: DryRunRuntime``): nothing is written to QBO, Rev.io or
        the ledger; steps label their metadata DRY RUN."""
        return False

    @cached_property
    def engine(self) -> Engine:
        return engine_for(self.settings.db_url)

    @cached_property
    def ledger(self) -> Ledger:
        return Ledger(self.engine)

    @cached_property
    def store(self) -> StagingStore:
        return StagingStore(self.engine)

    @cached_property
    def mapping(self) -> MappingConfig:
        return load_mapping(self.settings.mapping_file)

    @cached_property
    def revio(self) -> RevioClient:
        return build_revio(self.settings, self.engine)

    @cached_property
    def qbo(self) -> QBOClient:
        return build_qbo(self.settings, self.engine)
