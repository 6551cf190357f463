"""Webhooks in: ``revqb webhooks serve`` receives Rev.io (and QBO) notifications and stores them durably.

The receiver answers at once and only stores; ``defs/automation/webhooks.py``'s sensor turns stored Rev.io
events into sync runs for exactly the affected days, and polling stays as the backstop for lost events.
"""

from revqb_pipeline.webhooks._app import QboHandler, build_app
from revqb_pipeline.webhooks._events import (
    DEFAULT_EVENT_RESOURCES,
    EventError,
    RevioEvent,
    parse_event,
    token_ok,
)
from revqb_pipeline.webhooks._register import Registration, register
from revqb_pipeline.webhooks._serve import Receiver, receiver_url, serve, start_receiver
from revqb_pipeline.webhooks._settings import WebhookSettings

__all__ = [
    "DEFAULT_EVENT_RESOURCES",
    "EventError",
    "QboHandler",
    "Receiver",
    "Registration",
    "RevioEvent",
    "WebhookSettings",
    "build_app",
    "parse_event",
    "receiver_url",
    "register",
    "serve",
    "start_receiver",
    "token_ok",
]
