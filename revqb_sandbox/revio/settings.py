"""Settings of the Rev.io sandbox server (credentials, dataset, limits, UNCONFIRMED representations)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Literal

from pydantic import BaseModel, Field

DEFAULT_EVENT_NAMES: dict[str, str] = {
    "bill_created": "BILL_CREATED",
    "payment_created": "PAYMENT_CREATED",
    "payment_updated": "PAYMENT_UPDATED",
    "credit_created": "CREDIT_CREATED",
    "customer_updated": "CUSTOMER_UPDATED",
}


class RevioSandboxSettings(BaseModel):
    """Everything the Rev.io sandbox needs; defaults give a 25-customer, one-month tenant."""

    client_code: str = "sandbox"
    login: str = "INTEGRATIONS"
    password: str = "sandbox-password"
    subscription_key: str = "sandbox-apim-key"

    seed: int = 7
    customers: int = Field(25, ge=0)
    start: date = date(2026, 1, 1)
    months: int = Field(1, ge=0)
    bills: bool = Field(True, description="Generate billing history; False = customers + catalog only.")
    now: datetime | None = Field(None, description="Initial sandbox clock; None = end of the dataset.")
    freeze_clock: bool = Field(False, description="True = the clock only moves through /_admin/clock.")

    rate_per_minute: int = Field(500, ge=1)
    daily_quota: int = Field(150_000, ge=1)
    time_scale: float = Field(
        1.0, gt=0, description="Real seconds per simulated second (0.01: a rate-limit minute lasts 0.6 s)."
    )
    page_size_over_limit: Literal["clamp", "reject"] = "clamp"
    faults: str | None = Field(None, description="Fault spec; only `revio.*` rules are used.")
    fault_seed: int | None = None

    event_names: dict[str, str] = Field(default_factory=lambda: dict(DEFAULT_EVENT_NAMES))
    webhook_timeout_s: float = 5.0

    bounce_mode: Literal["flag_and_reversal", "flag_only", "reversal_only"] = "flag_and_reversal"
    refund_mode: Literal["negative_row", "positive_row"] = "negative_row"
    bill_reversal_mode: Literal["flag_and_zero", "delete"] = "flag_and_zero"
