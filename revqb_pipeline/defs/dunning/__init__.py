"""Dunning and collections status to QBO: the status asset, its job and hourly schedule."""
