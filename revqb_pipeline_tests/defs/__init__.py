"""Tests of revqb_pipeline.defs: the Dagster definitions, their snapshot, sensors and failure handling."""
