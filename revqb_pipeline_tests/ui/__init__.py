"""Browser tests (headless Debian Chromium): the Dagster UI after a demo sync, the reconciliation report."""
