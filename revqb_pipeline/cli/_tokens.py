"""``revqb tokens rotate``: re-encrypt the stored QBO tokens with the newest key."""

from __future__ import annotations

from types import SimpleNamespace

from revqb_pipeline.cli._common import EXIT_OK, require, say, settings_or_exit


def cmd_tokens_rotate(args: SimpleNamespace) -> int:
    """Re-encrypt the stored QBO tokens with the first key of REVQB_TOKEN_KEY (after prepending a new key)."""
    from revqb_pipeline.staging.tokens import SqlTokenStore
    from revqb_pipeline.sync.runtime import engine_for

    settings = settings_or_exit()
    require(settings, need_revio=False, need_qbo=False, need_db=True, db_must_exist=True)
    count = SqlTokenStore(engine_for(settings.db_url), settings.token_key).rotate()
    say(f"re-encrypted the tokens of {count} realm(s) with the first key of REVQB_TOKEN_KEY")
    return EXIT_OK
