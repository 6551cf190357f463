"""QBO drift: detection (CDC + stored webhooks), alerts, restore by policy; the no_unexplained_drift check."""
