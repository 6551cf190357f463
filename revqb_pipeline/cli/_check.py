"""``revqb check``: every preflight check, one line each."""

from __future__ import annotations

import time
from types import SimpleNamespace

from revqb_pipeline.cli._common import EXIT_CONFIG, EXIT_OK, say, settings_or_exit


def cmd_check(args: SimpleNamespace) -> int:
    """Every preflight check, one line each: ``ok``, ``FAIL <SETTING>: <what to fix>`` or ``skip``."""
    from revqb_pipeline.preflight import PreflightFailed, run_checks

    try:
        settings = settings_or_exit()
    except PreflightFailed as exc:
        for problem in exc.problems:
            say(f"FAIL  {problem}")
        return EXIT_CONFIG
    started = time.monotonic()
    checks = run_checks(settings, timeout_s=args.timeout, verify_refresh=True)
    for check in checks:
        if check.problems:
            for problem in check.problems:
                say(f"FAIL  {problem}")
        elif check.skipped:
            say(f"skip  {check.name}: {check.skipped}")
        else:
            say(f"ok    {check.name}: {check.ok_detail}")
    bad = sum(len(c.problems) for c in checks)
    if not bad:
        from revqb_pipeline.cli._sync import record_first_activity

        first = record_first_activity(settings)
        say(
            f"ok    first Rev.io activity: {first or 'none yet'} "
            "(daily partitions start there unless REVQB_START_DATE is set)"
        )
    say(f"{'all checks passed' if not bad else f'{bad} problem(s)'} in {time.monotonic() - started:.1f}s")
    return EXIT_CONFIG if bad else EXIT_OK
