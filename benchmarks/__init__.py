"""revqb speed goals: benchmarks that print figures and ratios (never timed assertions).

Run ``python -m benchmarks.run`` (or ``make bench``); docs/performance.md has the figures and how to
read them.
"""
