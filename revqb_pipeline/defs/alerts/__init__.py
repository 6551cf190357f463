"""Alerts: the notifier resource every alert goes through, and the failure sensors."""
