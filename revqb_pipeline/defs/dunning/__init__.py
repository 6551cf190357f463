"""Dunning and collections status to QBO, alerts, the failure queue and the run-failure sensor."""
