"""Tests for revqb_pipeline.entities."""
