"""The sensor's change detection without a server: digests, the look-back window, the plan and the cursor."""

from __future__ import annotations

from datetime import date

from revqb_pipeline.sync.changes import Scan, digest, parse_cursor, plan, window_start


def test_digest_is_order_independent_and_sensitive_to_versions() -> None:
    assert digest(["Bills:1:a", "Payments:2:b"]) == digest(["Payments:2:b", "Bills:1:a"])
    assert digest(["Bills:1:a"]) != digest(["Bills:1:b"])


def test_window_starts_at_the_watermark_minus_the_look_back_never_before_the_start() -> None:
    assert window_start({}, 7, "2025-01-01") == date(2025, 1, 1)
    assert window_start({"watermark": "2026-01-10T08:00:00"}, 7, "2025-01-01") == date(2026, 1, 3)
    assert window_start({"watermark": "2025-01-03T00:00:00"}, 7, "2025-01-01") == date(2025, 1, 1)


def test_a_bad_cursor_reads_as_empty() -> None:
    assert parse_cursor(None) == {} and parse_cursor("not json") == {} and parse_cursor("[1]") == {}
    assert parse_cursor('{"watermark": "x"}') == {"watermark": "x"}


def test_plan_requests_changed_days_only_and_carries_the_rest() -> None:
    since = date(2026, 1, 1)
    cursor = {"days": {"2026-01-02": "d2", "2026-01-03": "old"}, "watermark": "2026-01-03T10:00:00"}
    scan = Scan(
        days={"2026-01-02": "d2", "2026-01-03": "new", "2026-01-04": "d4"}, watermark="2026-01-04T09:00:00"
    )
    changed, nxt, invalid = plan(cursor, scan, since, lambda d: True, max_runs=31)
    assert changed == [("2026-01-03", "new"), ("2026-01-04", "d4")] and invalid == []
    assert nxt["days"] == {"2026-01-02": "d2", "2026-01-03": "new", "2026-01-04": "d4"}
    assert nxt["watermark"] == "2026-01-04T09:00:00"


def test_a_day_whose_records_vanished_changed_too() -> None:
    scan = Scan(days={}, watermark=None)
    changed, nxt, _ = plan({"days": {"2026-01-02": "d2"}}, scan, date(2026, 1, 1), lambda d: True, 31)
    assert changed == [("2026-01-02", digest([]))] and nxt["days"] == {"2026-01-02": digest([])}


def test_days_over_the_run_limit_or_not_yet_a_partition_wait_for_a_later_tick() -> None:
    days = {f"2026-01-0{i}": f"d{i}" for i in range(1, 6)}
    scan = Scan(days=days, watermark="2026-01-05T12:00:00")
    changed, nxt, invalid = plan({}, scan, date(2026, 1, 1), lambda d: d != "2026-01-05", max_runs=2)
    assert [d for d, _ in changed] == ["2026-01-01", "2026-01-02"]
    assert invalid == ["2026-01-05"]
    assert set(nxt["days"]) == {"2026-01-01", "2026-01-02"}  # the others are planned again next tick
    assert nxt["watermark"] <= "2026-01-03"  # early enough to keep them in the next window
