"""Tests of revqb_pipeline.entities.journals (month-end revenue)."""
