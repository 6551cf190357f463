"""Tests of revqb_pipeline.staging: the staging database, ledger, store and token store."""
