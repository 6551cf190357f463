"""The ``revqb`` command line (entry point :func:`main`; ``python -m revqb_pipeline.cli`` runs it too).

Built on click (commands and options) and rich (the progress bar). Modules by concern: ``_app`` (the
commands, :func:`main`, exit codes of errors), ``_args`` (option types), ``_signals`` (SIGINT/SIGTERM),
``_runs`` (Dagster runs per partition), ``_progress`` (what runs show while they execute), ``_sync``,
``_sandbox`` (sandbox and demo), ``_status`` (status and reconcile), ``_ops`` (retry and dunning),
``_mappings``, ``_tokens``, ``_check``; ``_common`` is shared. Importing this package stays cheap: Dagster
and the clients load when a command runs.
"""

from revqb_pipeline.cli._app import cli, main
from revqb_pipeline.cli._common import (
    EXIT_CONFIG,
    EXIT_FAILURE,
    EXIT_OK,
    EXIT_RECORDS,
    SOURCE_TYPES,
    UsageError,
    require,
    settings_or_exit,
)
from revqb_pipeline.cli._runs import SyncReport, _step_failure_line, local_instance, run_partitions
from revqb_pipeline.cli._signals import STOP, Interrupted, StopSignal, graceful_signals
from revqb_pipeline.cli._sync import activity_dates

__all__ = [
    "EXIT_CONFIG",
    "EXIT_FAILURE",
    "EXIT_OK",
    "EXIT_RECORDS",
    "SOURCE_TYPES",
    "STOP",
    "Interrupted",
    "StopSignal",
    "SyncReport",
    "UsageError",
    "_step_failure_line",
    "activity_dates",
    "cli",
    "graceful_signals",
    "local_instance",
    "main",
    "require",
    "run_partitions",
    "settings_or_exit",
]
