"""Tests of the `revqb` CLI (revqb_pipeline.cli), with its settings and preflight."""
