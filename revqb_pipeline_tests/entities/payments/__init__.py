"""Tests of revqb_pipeline.entities.payments (payments and credits)."""
