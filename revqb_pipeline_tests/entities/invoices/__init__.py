"""Tests of revqb_pipeline.entities.invoices."""
