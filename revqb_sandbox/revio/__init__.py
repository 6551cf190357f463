"""Rev.io REST sandbox: seeded telecom data generator, billing engine and Starlette app.

``create_app(RevioSandboxSettings(...))`` serves ``/v1/...`` (API) and ``/_admin/...`` (scenarios);
``generate(seed, customers, start, months)`` returns the same :class:`RevioDataset` the server loads.
Documented sandbox assumptions live in the module docstrings of ``catalog`` (tax classes, geocodes,
product type codes, credit kinds, payment methods), ``state`` (bill amounts, custom fields, bounce /
refund / reversal representation, proration), ``query`` (search params) and ``webhooks`` (events).
"""

from revqb_sandbox.revio.generator import generate
from revqb_sandbox.revio.settings import RevioSandboxSettings
from revqb_sandbox.revio.state import RevioDataset

__all__ = ["RevioDataset", "RevioSandboxSettings", "create_app", "generate"]


def __getattr__(name: str) -> object:
    if name == "create_app":  # lazy: keeps `import revqb_sandbox.revio.generator` free of Starlette
        from revqb_sandbox.revio.app import create_app

        return create_app
    raise AttributeError(name)
