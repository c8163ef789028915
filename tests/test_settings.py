"""Settings fail closed in production and read an optional TOML file."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from authd.settings import Settings


def test_production_needs_a_master_key(monkeypatch):
    monkeypatch.delenv("AUTHD_MASTER_KEY", raising=False)
    with pytest.raises(ValidationError, match="AUTHD_MASTER_KEY is required"):
        Settings(mode="production")


@pytest.mark.parametrize("placeholder", ["changeme", "secret", " ", "CHANGEME"])
def test_production_refuses_placeholder(placeholder):
    with pytest.raises(ValidationError, match="AUTHD_MASTER_KEY is a placeholder") as info:
        Settings(mode="production", master_key=placeholder)
    assert "input_value" not in str(info.value)


def test_validation_error_never_prints_the_master_key():
    real = "c0ffee" * 10 + "abcd"
    with pytest.raises(ValidationError) as info:
        Settings(mode="production", master_key=real, otp_notifier="webhook",
                 otp_webhook_url="http://127.0.0.1:9/sms", otp_webhook_secret="changeme")
    assert "AUTHD_OTP_WEBHOOK_SECRET" in str(info.value) and real not in str(info.value)


def test_production_webhook_needs_its_secret():
    with pytest.raises(ValidationError, match="AUTHD_OTP_WEBHOOK_SECRET"):
        Settings(mode="production", master_key="ab" * 32, otp_notifier="webhook",
                 otp_webhook_url="http://127.0.0.1:9/sms")


def test_development_needs_nothing():
    assert Settings(mode="development").master_key is None


def test_config_file_and_env_precedence(tmp_path, monkeypatch):
    config = tmp_path / "authd.toml"
    config.write_text('port = 9100\nissuer = "https://id.example.ma"\n')
    monkeypatch.setenv("AUTHD_CONFIG_FILE", str(config))
    monkeypatch.setenv("AUTHD_PORT", "9200")
    s = Settings()
    assert s.issuer == "https://id.example.ma" and s.port == 9200


def test_unknown_setting_is_refused(tmp_path, monkeypatch):
    config = tmp_path / "authd.toml"
    config.write_text("prot = 9100\n")
    monkeypatch.setenv("AUTHD_CONFIG_FILE", str(config))
    with pytest.raises(ValidationError):
        Settings()


def test_master_key_never_in_repr():
    s = Settings(master_key="ab" * 32)
    assert "abab" not in repr(s) and "abab" not in str(s.model_dump())


def test_production_refuses_the_outbox_unless_explicitly_allowed():
    with pytest.raises(ValidationError, match="AUTHD_OTP_OUTBOX_IN_PRODUCTION"):
        Settings(mode="production", master_key="ab" * 32)
    allowed = Settings(mode="production", master_key="ab" * 32, otp_outbox_in_production=True)
    assert allowed.otp_notifier == "outbox"
    webhook = Settings(mode="production", master_key="ab" * 32, otp_notifier="webhook",
                       otp_webhook_url="http://127.0.0.1:9/sms", otp_webhook_secret="s3" * 16)
    assert webhook.otp_notifier == "webhook"


def test_face_model_is_sface_or_dlib(monkeypatch):
    monkeypatch.delenv("AUTHD_FACE_MODEL", raising=False)
    monkeypatch.setenv("AUTHD_FACE_MODEL", "dlib")
    assert Settings().face_model == "dlib"
    monkeypatch.setenv("AUTHD_FACE_MODEL", "facenet")
    with pytest.raises(ValidationError, match="face_model"):
        Settings()
    from matching.encoder import MODEL_IDS

    assert set(MODEL_IDS) == {"sface", "dlib"}  # every selectable model has an encoder
