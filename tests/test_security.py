"""Secrets stay secret: not in logs, errors, reprs or stored payloads."""

import logging

import pytest

from omnisync import configure_logging, log_context
from omnisync.config import parse_config
from omnisync.errors import SignatureError
from omnisync.webhooks import hmac_sha256_base64, verify_hmac_sha256_base64

SECRET = "shpat_0123456789abcdef"


@pytest.fixture
def loaded(monkeypatch):
    monkeypatch.setenv("SHOP_TOKEN", SECRET)
    return parse_config(
        {"channels": {"shop": {"adapter": "sim", "settings": {"token": "${SHOP_TOKEN}"}}}}
    )


def test_settings_and_adapters_do_not_show_credentials(loaded):
    from omnisync.adapters import ChannelContext

    channel = loaded.channels["shop"]
    adapter = channel.adapter_class(channel.settings, ChannelContext(name="shop"))
    for text in (
        repr(channel.settings),
        str(channel.settings),
        repr(adapter),
        repr(adapter.http),
        repr(adapter.auth()),
    ):  # type: ignore[attr-defined]
        assert SECRET not in text


def test_log_lines_are_scrubbed_of_loaded_secrets(loaded, capsys):
    configure_logging("INFO")
    logging.getLogger("omnisync.test").warning("token was %s", SECRET)
    assert SECRET not in capsys.readouterr().err


def test_json_logs_carry_their_context(capsys):
    configure_logging("INFO", as_json=True)
    with log_context(channel="shop", order="1001"):
        logging.getLogger("omnisync.test").info("imported")
    line = capsys.readouterr().err.strip()
    assert '"channel": "shop"' in line and '"order": "1001"' in line
    configure_logging("WARNING")


def test_webhook_signatures_are_checked_in_constant_time(monkeypatch):
    import hmac

    calls = []
    original = hmac.compare_digest
    monkeypatch.setattr(hmac, "compare_digest", lambda a, b: calls.append(1) or original(a, b))
    body = b'{"id": 1}'
    verify_hmac_sha256_base64("s3cret", body, hmac_sha256_base64("s3cret", body))
    assert calls
    with pytest.raises(SignatureError, match="no signature"):
        verify_hmac_sha256_base64("s3cret", body, None)
    with pytest.raises(SignatureError, match="does not match"):
        verify_hmac_sha256_base64("s3cret", body, hmac_sha256_base64("other", body))


def test_tls_verification_is_on_by_default(loaded):
    assert loaded.channels["shop"].settings.verify_tls is True


def test_a_base_url_with_credentials_is_redacted_in_reprs(monkeypatch):
    monkeypatch.setenv("SHOP_TOKEN", SECRET)
    loaded = parse_config(
        {
            "channels": {
                "shop": {
                    "adapter": "sim",
                    "settings": {
                        "base_url": "https://bob:${SHOP_TOKEN}@api.example/v1?api_key=${SHOP_TOKEN}"
                    },
                }
            }
        }
    )
    for text in (
        repr(loaded.channels["shop"]),
        repr(loaded.channels["shop"].settings),
        repr(loaded),
    ):
        assert SECRET not in text


def test_tracebacks_in_text_logs_are_scrubbed(loaded, capsys):
    configure_logging("INFO")
    try:
        raise ValueError(f"payload echoed {SECRET}")
    except ValueError:
        logging.getLogger("omnisync.test").warning("failed", exc_info=True)
    assert SECRET not in capsys.readouterr().err
