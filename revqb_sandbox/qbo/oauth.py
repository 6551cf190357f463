"""OAuth 2.0 server: authorization codes, rotating refresh tokens, access tokens per realm, revoke."""

from __future__ import annotations

import base64
import secrets
import threading
from dataclasses import dataclass
from typing import Any

from revqb_sandbox.qbo.common import Clock
from revqb_sandbox.qbo.settings import QBOSandboxSettings

SCOPE = "com.intuit.quickbooks.accounting"


@dataclass
class _Refresh:
    realm_id: str
    expires_at: float
    successor: str | None = None
    superseded_at: float | None = None
    revoked: bool = False


@dataclass
class _Access:
    realm_id: str
    expires_at: float
    refresh: str | None


class OAuthError(Exception):
    """Token endpoint error (``{"error": ..., "error_description": ...}``)."""

    def __init__(self, status: int, error: str, description: str) -> None:
        super().__init__(f"{error}: {description}")
        self.status = status
        self.body = {"error": error, "error_description": description}


class OAuthServer:
    """Token bookkeeping (thread-safe). Durations are simulated seconds (see :class:`Clock`)."""

    def __init__(self, settings: QBOSandboxSettings, clock: Clock) -> None:
        self.settings = settings
        self.clock = clock
        self._lock = threading.Lock()
        self._codes: dict[str, str] = {}
        self._refresh: dict[str, _Refresh] = {}
        self._access: dict[str, _Access] = {}
        self.refresh_grants: dict[str, int] = {}  # successful refresh_token grants per realm
        self.reset()

    def reset(self) -> None:
        """Forget all tokens except the configured initial refresh token."""
        with self._lock:
            self._codes.clear()
            self._access.clear()
            self.refresh_grants.clear()
            self._refresh = {
                self.settings.initial_refresh_token: _Refresh(
                    self.settings.realm_id, self.clock.sim() + self.settings.refresh_token_ttl_s
                )
            }

    def authorize(self, realm_id: str | None = None) -> str:
        """Issue a one-time authorization code for ``realm_id`` (default: settings.realm_id)."""
        code = "AB11" + secrets.token_urlsafe(24)
        with self._lock:
            self._codes[code] = realm_id or self.settings.realm_id
        return code

    def check_client(self, authorization: str | None) -> None:
        """Validate HTTP Basic client credentials (401 invalid_client)."""
        expected = base64.b64encode(
            f"{self.settings.client_id}:{self.settings.client_secret}".encode()
        ).decode()
        if (
            not authorization
            or not authorization.startswith("Basic ")
            or authorization[6:].strip() != expected
        ):
            raise OAuthError(401, "invalid_client", "Client authentication failed")

    def token(self, form: dict[str, str]) -> dict[str, Any]:
        """Handle a token request form (authorization_code or refresh_token grant)."""
        grant = form.get("grant_type")
        with self._lock:
            now = self.clock.sim()
            if grant == "authorization_code":
                code = form.get("code", "")
                realm_id = self._codes.pop(code, None)
                if realm_id is None:
                    raise OAuthError(400, "invalid_grant", "Invalid or expired authorization code")
                if form.get("redirect_uri") != self.settings.redirect_uri:
                    raise OAuthError(400, "invalid_grant", "redirect_uri does not match")
                refresh = self._new_refresh(realm_id, now)
                return self._issue(realm_id, refresh, now) | {"realmId": realm_id}
            if grant == "refresh_token":
                issued = self._refresh_grant(form.get("refresh_token", ""), now)
                realm = self._access[issued["access_token"]].realm_id
                self.refresh_grants[realm] = self.refresh_grants.get(realm, 0) + 1
                return issued
        raise OAuthError(400, "unsupported_grant_type", f"grant_type {grant!r} is not supported")

    def _refresh_grant(self, token: str, now: float) -> dict[str, Any]:
        rec = self._refresh.get(token)
        if rec is None or rec.revoked or now >= rec.expires_at:
            raise OAuthError(400, "invalid_grant", "Incorrect or invalid refresh token")
        if rec.superseded_at is not None:
            if now - rec.superseded_at >= self.settings.refresh_grace_s:
                raise OAuthError(400, "invalid_grant", "Token has been expired or revoked")
            latest = token
            while self._refresh[latest].successor is not None:
                latest = self._refresh[latest].successor  # type: ignore[assignment]
            return self._issue(rec.realm_id, latest, now)
        if not self.settings.rotate_refresh_tokens:
            rec.expires_at = now + self.settings.refresh_token_ttl_s
            return self._issue(rec.realm_id, token, now)
        new = self._new_refresh(rec.realm_id, now)
        rec.successor = new
        rec.superseded_at = now
        return self._issue(rec.realm_id, new, now)

    def _new_refresh(self, realm_id: str, now: float) -> str:
        token = "RT1-" + secrets.token_urlsafe(32)
        self._refresh[token] = _Refresh(realm_id, now + self.settings.refresh_token_ttl_s)
        return token

    def _issue(self, realm_id: str, refresh: str, now: float) -> dict[str, Any]:
        access = "eyJsandbox." + secrets.token_urlsafe(48)
        self._access[access] = _Access(realm_id, now + self.settings.access_token_ttl_s, refresh)
        return {
            "token_type": "bearer",
            "access_token": access,
            "expires_in": int(self.settings.access_token_ttl_s),
            "refresh_token": refresh,
            "x_refresh_token_expires_in": int(self._refresh[refresh].expires_at - now),
        }

    def revoke(self, token: str) -> None:
        """Revoke a refresh token (with its access tokens) or a single access token."""
        with self._lock:
            rec = self._refresh.get(token)
            if rec is not None:
                rec.revoked = True
                for key in [k for k, a in self._access.items() if a.refresh == token]:
                    del self._access[key]
                return
            self._access.pop(token, None)

    def expire_access_tokens(self) -> int:
        """Make every current access token expired; returns how many."""
        with self._lock:
            now = self.clock.sim()
            for acc in self._access.values():
                acc.expires_at = min(acc.expires_at, now)
            return len(self._access)

    def check_bearer(self, authorization: str | None, realm_id: str) -> str | None:
        """None if the bearer token is valid for ``realm_id``, else the 401 detail text."""
        if not authorization or not authorization.lower().startswith("bearer "):
            return "Authorization header missing or not a Bearer token"
        token = authorization[7:].strip()
        with self._lock:
            acc = self._access.get(token)
            if acc is None:
                return "Malformed or unknown bearer token"
            if self.clock.sim() >= acc.expires_at:
                return "Token expired: " + token[:12] + "..."
            if acc.realm_id != realm_id:
                return f"Token is not valid for realm {realm_id}"
        return None


def discovery_document(base: str) -> dict[str, Any]:
    """OpenID discovery document pointing back at this server."""
    return {
        "issuer": f"{base}/op/v1",
        "authorization_endpoint": f"{base}/connect/oauth2",
        "token_endpoint": f"{base}/oauth2/v1/tokens/bearer",
        "userinfo_endpoint": f"{base}/v1/openid_connect/userinfo",
        "revocation_endpoint": f"{base}/oauth2/v1/tokens/revoke",
        "jwks_uri": f"{base}/op/v1/jwks",
        "response_types_supported": ["code"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "scopes_supported": ["openid", "email", "profile", "address", "phone", SCOPE],
        "token_endpoint_auth_methods_supported": ["client_secret_post", "client_secret_basic"],
        "claims_supported": ["aud", "exp", "iat", "iss", "realmid", "sub"],
    }
