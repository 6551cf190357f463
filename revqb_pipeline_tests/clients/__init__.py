"""Tests of revqb_pipeline.clients: the Rev.io and QBO HTTP clients, OAuth, rate limits, errors."""
