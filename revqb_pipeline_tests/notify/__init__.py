"""Tests of revqb_pipeline.notify: alert channels and secrets kept out of alerts and run records."""
