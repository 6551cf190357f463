"""The ``revqb`` command line (entry point :func:`main`; ``python -m revqb_pipeline.cli`` runs it too)."""

from revqb_pipeline.cli._app import (
    EXIT_FAILURE,
    EXIT_RECORDS,
    SOURCE_TYPES,
    SyncReport,
    _step_failure_line,
    _stopped,
    activity_dates,
    graceful_signals,
    local_instance,
    main,
    require,
    run_partitions,
    settings_or_exit,
)

__all__ = [
    "EXIT_FAILURE",
    "EXIT_RECORDS",
    "SOURCE_TYPES",
    "SyncReport",
    "_step_failure_line",
    "_stopped",
    "activity_dates",
    "graceful_signals",
    "local_instance",
    "main",
    "require",
    "run_partitions",
    "settings_or_exit",
]
