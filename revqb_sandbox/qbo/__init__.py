"""QuickBooks Online sandbox server: ``create_app(QBOSandboxSettings(...))``."""

from revqb_sandbox.qbo.app import create_app
from revqb_sandbox.qbo.settings import QBOSandboxSettings

__all__ = ["QBOSandboxSettings", "create_app"]
