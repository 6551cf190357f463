"""Settings of the QBO sandbox. Every behaviour the reference marks [UNVERIFIED] is a setting here."""

from __future__ import annotations

from decimal import Decimal

from pydantic import BaseModel, Field

from revqb_sandbox.faults import FaultRule


class QBOSandboxSettings(BaseModel):
    """Configuration of one QBO sandbox server (all realms share it)."""

    realm_id: str = Field("9341455130166501", description="Realm whose tokens initial_refresh_token grants.")
    client_id: str = "sandbox-client-id"
    client_secret: str = "sandbox-client-secret"
    redirect_uri: str = "http://localhost:8000/callback"
    initial_refresh_token: str = Field("sandbox-refresh-0", description="Valid refresh token for realm_id.")
    seed: int = Field(0, description="Seed for fault injection and generated values.")
    empty: bool = Field(False, description="Start realms with reference data only (no customers/items).")
    sample_company: bool = Field(
        False,
        description="Seed fresh realms like an Intuit sandbox company (vendors, employees, classes, "
        "departments, SKU items and open/paid invoices, payments, credits, receipts, estimates, journals). "
        "Off: only the few customers/items revqb's own tests expect.",
    )
    time_scale: float = Field(
        1.0, gt=0, description="Real seconds per simulated second (0.01: one simulated minute = 0.6 s)."
    )
    tz_offset_hours: int = Field(-7, description="Company time-zone offset used in MetaData/time stamps.")

    # OAuth
    access_token_ttl_s: float = Field(3600, description="Access token lifetime (simulated seconds).")
    refresh_token_ttl_s: float = Field(8726400, description="x_refresh_token_expires_in (simulated seconds).")
    rotate_refresh_tokens: bool = Field(
        True, description="[UNVERIFIED cadence] Every refresh returns a new refresh token (Intuit: ~daily)."
    )
    refresh_grace_s: float = Field(
        86400, description="[UNVERIFIED] How long a rotated-out refresh token keeps working (simulated s)."
    )

    # Throttling (per realm), in simulated time
    per_minute: int = 500
    per_second: int = 10
    max_concurrent: int = 10
    batch_per_minute: int = 40
    xml_429: bool = Field(False, description="Send the legacy XML 429 body instead of the JSON Fault 3001.")
    retry_after_s: int | None = Field(
        None, description="[UNVERIFIED] Retry-After header on 429 (None: absent)."
    )
    request_latency_s: float = Field(
        0.0,
        ge=0,
        description="Simulated processing time per API request (``revqb sandbox serve`` defaults to "
        "SERVE_LATENCY_S: a serial client stays under 10 req/s as against Intuit; tests choose their own).",
    )

    # Idempotency
    requestid_ttl_s: float = Field(86400, description="[UNVERIFIED] requestid retention (simulated seconds).")

    # Faults
    faults: list[FaultRule] = Field(default_factory=list, description="Initial fault rules.")

    # Validation choices
    duplicate_name_case_insensitive: bool = Field(True, description="[UNVERIFIED] 6240 check ignores case.")
    duplicate_name_includes_inactive: bool = Field(
        True, description="[UNVERIFIED] 6240 counts inactive names."
    )
    docnumber_case_insensitive: bool = Field(False, description="[UNVERIFIED] 6140 check ignores case.")
    warn_duplicate_journal_number: bool = Field(
        True, description="[UNVERIFIED default] Preference that makes duplicate JE DocNumbers a 6140."
    )
    custom_txn_numbers: bool = Field(
        True,
        description="SalesFormsPrefs.CustomTxnNumbers: omitted DocNumber stays empty (else auto-numbered).",
    )
    reject_negative_sales_lines: bool = Field(True, description="[UNVERIFIED scope] 2290 on negative lines.")
    default_line_tax_code: str = Field(
        "NON", description="[UNVERIFIED] TaxCodeRef of a line sent without one."
    )
    je_ar_entity_error_code: str = Field(
        "6000", description="[UNVERIFIED] Code when an A/R JE line lacks a Customer Entity."
    )
    bump_synctoken_on_apply: bool = Field(
        True,
        description="[UNVERIFIED] Applying/unapplying a payment bumps the invoice/credit memo SyncToken.",
    )
    query_case_insensitive: bool = Field(True, description="[UNVERIFIED] String comparisons in queries.")
    batch_max_items: int = Field(30, description="Items per batch request (1040 above).")
    acct_num_max_len: int = Field(
        20, description="Account.AcctNum limit: the live service accepts 20 (docs say 7 for US; issue 15)."
    )
    tax_rate_name_max_len: int = Field(
        100, description="taxservice TaxRateName limit: the live service accepts 100 (docs say 10; issue 15)."
    )

    # Webhooks
    webhook_url: str | None = Field(None, description="Receiver of legacy eventNotifications (None: off).")
    webhook_verifier_token: str = "sandbox-verifier-token"

    # Company preferences
    auto_apply_credit: bool = Field(
        False,
        description="[UNVERIFIED] SalesFormsPrefs.AutoApplyCredit; when on, new credit memos are applied.",
    )
    partner_tax_enabled: bool | None = Field(
        None, description="TaxPrefs.PartnerTaxEnabled (True: AST on, False: AST not set up, None: absent)."
    )
    ast_rate_percent: Decimal = Field(
        Decimal("0"), description="Flat AST stub rate applied to TAX lines when partner_tax_enabled is True."
    )
