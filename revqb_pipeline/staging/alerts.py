"""The ``alerts_sent`` table: which alert keys were already sent (or are being sent by another run)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from revqb_pipeline.staging._sql import chunks, dialect_insert
from revqb_pipeline.staging.db import alerts_sent, utcnow, write_begin

KEY_LEN = 255


class SentAlerts:
    """Claims, settles and releases alert keys (keys longer than 255 characters are cut)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def sent(self, keys: Iterable[str]) -> set[str]:
        """The keys among ``keys`` that are already recorded."""
        wanted = list(dict.fromkeys(keys))
        found: set[str] = set()
        with self.engine.connect() as conn:
            for chunk in chunks(wanted, 500):
                stmt = sa.select(alerts_sent.c.alert_key).where(alerts_sent.c.alert_key.in_(chunk))
                found.update(conn.execute(stmt).scalars())
        return found

    def claim(self, summaries: Sequence[tuple[str, str]]) -> set[str]:
        """Insert ``(key, summary)`` rows not seen yet (channel ``sending``); returns the (cut) keys this
        caller inserted, so two runs never both own one."""
        if not summaries:
            return set()
        now = utcnow()
        owned: set[str] = set()
        with write_begin(self.engine) as conn:
            for chunk in chunks(summaries, 200):
                stmt = (
                    dialect_insert(conn.dialect.name, alerts_sent)
                    .values(
                        [
                            {
                                "alert_key": key[:KEY_LEN],
                                "channel": "sending",
                                "sent_at": now,
                                "summary": text[:500],
                            }
                            for key, text in chunk
                        ]
                    )
                    .on_conflict_do_nothing(index_elements=["alert_key"])
                    .returning(alerts_sent.c.alert_key)
                )
                owned.update(conn.execute(stmt).scalars())
        return owned

    def settle(self, keys: Sequence[str], channel: str) -> None:
        """Record the channels ``keys`` went out on (``none`` when only logged)."""
        cut = [k[:KEY_LEN] for k in keys]
        with write_begin(self.engine) as conn:
            for chunk in chunks(cut, 500):
                conn.execute(
                    sa.update(alerts_sent)
                    .where(alerts_sent.c.alert_key.in_(chunk))
                    .values(channel=channel[:32], sent_at=utcnow())
                )

    def release(self, keys: Sequence[str]) -> None:
        """Forget ``keys`` (nothing went out: the next run tries again)."""
        cut = [k[:KEY_LEN] for k in keys]
        with write_begin(self.engine) as conn:
            for chunk in chunks(cut, 500):
                conn.execute(sa.delete(alerts_sent).where(alerts_sent.c.alert_key.in_(chunk)))
