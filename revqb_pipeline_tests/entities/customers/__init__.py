"""Tests of revqb_pipeline.entities.customers."""
