"""Tests for revqb_pipeline.sync."""
