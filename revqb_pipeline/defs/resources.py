"""Resources: Rev.io, QuickBooks Online and the staging database, configured from environment variables."""

import os

import dagster as dg

from revqb_pipeline.settings import DEFAULT_DB_URL, RevqbSettings
from revqb_pipeline.sync.runtime import Runtime


class RevioResource(dg.ConfigurableResource):
    """Rev.io REST API credentials (Basic auth ``login@clientcode`` plus the APIM subscription key)."""

    base_url: str
    client_code: str
    username: str
    password: str
    subscription_key: str


class QBOResource(dg.ConfigurableResource):
    """QuickBooks Online app credentials for one realm; rotated refresh tokens are kept in the staging DB."""

    base_url: str
    token_url: str
    realm_id: str
    client_id: str
    client_secret: str
    refresh_token: str = ""
    throttle_backoff_s: float = 60.0


class StagingResource(dg.ConfigurableResource):
    """The staging database (SQLite file by default, PostgreSQL by URL) and the mapping file."""

    db_url: str = DEFAULT_DB_URL
    mapping_file: str = ""

    def runtime(self, revio: RevioResource | None = None, qbo: QBOResource | None = None) -> Runtime:
        settings = RevqbSettings(db_url=self.db_url, mapping_file=self.mapping_file or None)
        if revio is not None:
            settings = settings.model_copy(
                update={
                    "revio_base_url": revio.base_url,
                    "revio_client_code": revio.client_code,
                    "revio_username": revio.username,
                    "revio_password": revio.password,
                    "revio_subscription_key": revio.subscription_key,
                }
            )
        if qbo is not None:
            settings = settings.model_copy(
                update={
                    "qbo_base_url": qbo.base_url,
                    "qbo_token_url": qbo.token_url,
                    "qbo_realm_id": qbo.realm_id,
                    "qbo_client_id": qbo.client_id,
                    "qbo_client_secret": qbo.client_secret,
                    "qbo_refresh_token": qbo.refresh_token,
                    "qbo_throttle_backoff_s": qbo.throttle_backoff_s,
                }
            )
        return Runtime(settings)


@dg.definitions
def defs() -> dg.Definitions:
    return dg.Definitions(
        resources={
            "revio": RevioResource(
                base_url=dg.EnvVar("REVIO_BASE_URL"),
                client_code=dg.EnvVar("REVIO_CLIENT_CODE"),
                username=dg.EnvVar("REVIO_USERNAME"),
                password=dg.EnvVar("REVIO_PASSWORD"),
                subscription_key=dg.EnvVar("REVIO_SUBSCRIPTION_KEY"),
            ),
            "qbo": QBOResource(
                base_url=dg.EnvVar("QBO_BASE_URL"),
                token_url=dg.EnvVar("QBO_TOKEN_URL"),
                realm_id=dg.EnvVar("QBO_REALM_ID"),
                client_id=dg.EnvVar("QBO_CLIENT_ID"),
                client_secret=dg.EnvVar("QBO_CLIENT_SECRET"),
                refresh_token=dg.EnvVar("QBO_REFRESH_TOKEN"),
                throttle_backoff_s=float(os.environ.get("QBO_THROTTLE_BACKOFF_S", "60")),
            ),
            "staging": StagingResource(
                db_url=os.environ.get("REVQB_DB_URL", DEFAULT_DB_URL),
                mapping_file=os.environ.get("REVQB_MAPPING_FILE", ""),
            ),
        }
    )
