"""Tests of revqb_pipeline.entities.dunning (account status)."""
