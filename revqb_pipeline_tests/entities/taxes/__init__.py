"""Tests of revqb_pipeline.entities.taxes (tax reconciliation)."""
