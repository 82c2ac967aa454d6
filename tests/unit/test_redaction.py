"""redact_secrets: the processor an application adds so tokens never reach its logs."""

from __future__ import annotations

import structlog
from structlog.testing import capture_logs

from tokenizer_acquisition import redact_secrets

TOKEN = "hf_AbCdEfGhIjKlMnOpQrStUv"


def test_secret_named_keys_are_masked() -> None:
    """token, Authorization and friends are replaced whatever their value."""
    event = redact_secrets(None, "info", {"event": "x", "token": TOKEN, "Authorization": "a b"})
    assert event == {"event": "x", "token": "***", "Authorization": "***"}


def test_bearer_credentials_and_hub_tokens_inside_values_are_masked() -> None:
    """A token embedded in a string, a nested dict or a list is masked in place."""
    event = redact_secrets(None, "info", {
        "event": f"sent Authorization: Bearer {TOKEN} to host",
        "headers": {"authorization": f"Bearer {TOKEN}", "accept": "identity"},
        "notes": [f"token was {TOKEN}", 3],
    })
    assert TOKEN not in repr(event)
    assert event["event"] == "sent Authorization: Bearer *** to host"
    assert event["headers"] == {"authorization": "***", "accept": "identity"}
    assert event["notes"] == ["token was ***", 3]


def test_it_works_as_a_configured_structlog_processor() -> None:
    """Configured in an application's chain, it runs before what captures or renders."""
    with capture_logs(processors=[redact_secrets]) as logs:
        structlog.get_logger().warning("retry", url=f"https://h/x?t={TOKEN}", token=TOKEN)
    assert logs and TOKEN not in repr(logs)


def test_library_records_reach_a_structlog_app_through_processor_formatter() -> None:
    """The documented set-up: stdlib records, ExtraAdder, redact_secrets, a renderer."""
    import io
    import json
    import logging

    from tokenizer_acquisition.adapters.logging_observer import log_event

    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=[structlog.stdlib.add_log_level, structlog.stdlib.ExtraAdder(),
                           redact_secrets],
        processor=structlog.processors.JSONRenderer()))
    logger = logging.getLogger("tokenizer_acquisition.test_redaction")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False  # pytest's own capture would keep the raw token
    try:
        log_event(logger, logging.WARNING, "tokenizer.download.retry",
                  url=f"https://h/x?t={TOKEN}", token=TOKEN, attempt=2)
    finally:
        logger.removeHandler(handler)
    event = json.loads(stream.getvalue())
    assert TOKEN not in stream.getvalue()
    assert event["attempt"] == 2 and event["level"] == "warning"
    assert event["event"].startswith("tokenizer.download.retry ")
