"""Tests of revqb_pipeline.mapping: the mapping file, normalizers, checks and schemas (pure)."""
