"""Secrets never reach a log line or an error message."""

from __future__ import annotations

import io
import logging

from bot import logs

TELEGRAM = "123456789:AAH-secret_part_of_a_token_xyz"
DISCORD = "MTEyMzQ1Njc4OTAxMjM0NTY3.GhIjKl.abcdefghijklmnopqrstuvwxyz0123"


def test_redact_known_secrets_and_token_shapes() -> None:
    text = f"bad token {TELEGRAM} and {DISCORD}; webhook secret s3cret-Value_1"
    shown = logs.redact(text, ["s3cret-Value_1"])
    assert TELEGRAM not in shown and DISCORD not in shown and "s3cret" not in shown
    assert shown.count(logs.REDACTED) == 3


def test_the_redactor_cleans_messages_arguments_and_tracebacks() -> None:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(logs.Redactor(["hunter2-secret"]))
    log = logging.getLogger("test.redactor")
    log.addHandler(handler)
    log.propagate = False
    try:
        log.warning("rejected %s", TELEGRAM)
        try:
            raise RuntimeError(f"token `{TELEGRAM}` was rejected, password hunter2-secret")
        except RuntimeError:
            log.exception("start failed")
    finally:
        log.removeHandler(handler)
    shown = stream.getvalue()
    assert "rejected [token]" in shown and "RuntimeError" in shown
    assert TELEGRAM not in shown and "hunter2-secret" not in shown
