"""Typed settings: `AUTHD_` environment variables over an optional TOML file, validated at start.

Fail closed: outside development a missing master key or a placeholder secret stops the start
with a message naming the setting (never its value).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

PLACEHOLDERS = frozenset(
    {"", "changeme", "change-me", "secret", "password", "placeholder", "xxx", "todo", "dev"}
)
CONFIG_ENV = "AUTHD_CONFIG_FILE"


class Settings(BaseSettings):
    # hide_input_in_errors: a validation error must never print a secret it was given.
    model_config = SettingsConfigDict(
        env_prefix="AUTHD_", extra="forbid", frozen=True, hide_input_in_errors=True
    )

    mode: Literal["development", "production"] = "development"
    data_dir: Path = Path("data")
    database_url: str | None = Field(None, description="default: SQLite file in data_dir")
    database_wait_seconds: float = Field(60, ge=0, le=3600, description="at start, how long "
                                         "to retry a database that is not reachable yet")
    sqlite_synchronous: Literal["FULL", "NORMAL"] = Field("FULL", description="FULL: an "
                                                          "acknowledged write survives power loss")
    redis_url: str | None = Field(None, description="OTP transactions, failure counters "
                                  "and rate limits in Redis instead of the database")
    redis_prefix: str = Field("authd:", min_length=1, description="prefix of every Redis key")
    master_key: SecretStr | None = None
    dev_secrets_dir: Path | None = Field(None, description="development only: where the "
                                         "generated master key lives when AUTHD_MASTER_KEY "
                                         "is unset; default `<data_dir>-dev-secrets` beside "
                                         "the data dir, never inside it")
    host: str = "127.0.0.1"
    port: int = Field(8000, ge=1, le=65535)
    workers: int = Field(1, ge=1, le=64)
    issuer: str = "https://authd.local"
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    max_body_bytes: int = Field(12 * 1024 * 1024, ge=1024)
    api_key_ttl_days: int = Field(365, ge=1)
    api_key_cache_seconds: int = Field(5, ge=0, le=300, description="a revoked key may still "
                                       "work this long in a process that used it (0: never)")

    # tokens and keys
    token_ttl_default_seconds: int = Field(300, ge=30, le=3600)
    token_ttl_max_seconds: int = Field(3600, ge=60, le=3600)
    key_rotation_days: int = Field(30, ge=1)

    # OTP (SP 800-63B 5.1.4: short-lived, single use, rate limited)
    otp_ttl_seconds: int = Field(180, ge=30, le=900)
    otp_max_attempts: int = Field(3, ge=1, le=10)
    otp_resend_cooldown_seconds: int = Field(30, ge=0)
    otp_notifier: Literal["outbox", "webhook"] = "outbox"
    otp_outbox_in_production: bool = Field(False, description="let production write OTPs "
                                           "to the outbox file (a test bed, not a gateway)")
    otp_webhook_url: str | None = None
    otp_webhook_secret: SecretStr | None = None
    otp_webhook_tries: int = Field(3, ge=1, le=10)
    otp_webhook_backoff_seconds: float = Field(0.2, ge=0, le=30)
    otp_webhook_timeout_seconds: float = Field(5.0, gt=0, le=60)
    rate_id_per_minute: float = Field(10, gt=0)
    rate_id_burst: int = Field(10, ge=1)
    rate_rp_per_second: float = Field(200, gt=0)
    rate_rp_burst: int = Field(400, ge=1)
    max_consecutive_failures: int = Field(100, ge=1, le=100, description="per identity, "
                                          "relying party and purpose (SP 800-63B 5.2.2)")
    failure_lock_seconds: int = Field(3600, ge=60, description="failures (and the lock at "
                                      "the cap) are forgotten this long after the last one")

    # audit log: the sequencer links events this often, and signs the chain head this often
    audit_link_seconds: float = Field(0.5, gt=0, le=60)
    audit_checkpoint_seconds: float = Field(60, gt=0, le=86400)

    # faces
    faces_enabled: bool = True
    face_model: Literal["sface", "dlib"] = Field("sface", description="the face model that "
                                                 "encodes photos; changing it needs `authd "
                                                 "faces migrate --to MODEL`")
    index_save_seconds: int = Field(60, ge=1)
    face_fmr_target: float = Field(1e-3, gt=0, lt=1)
    face_calibration_file: Path | None = Field(None, description="default: the one shipped "
                                                "in matching/data, made by lfw_verify.py")
    face_max_image_bytes: int = Field(10 * 1024 * 1024, ge=1024)
    face_max_image_pixels: int = Field(40_000_000, ge=10_000)
    face_workers: int = Field(2, ge=1, le=64)
    face_queue_per_rp: int = Field(4, ge=1, le=1000, description="photos one relying party "
                                   "may have waiting or encoding at once; one more is a 503 "
                                   "`busy` with Retry-After")
    face_busy_retry_after: int = Field(1, ge=1, le=3600, description="Retry-After seconds "
                                       "of a `busy` answer")
    face_png_max_pixels: int = Field(4_000_000, ge=10_000, description="PNG is decoded at "
                                     "full size: this bounds its decode near 1 s "
                                     "(benchmarks/decode_budget.py)")
    face_webp_max_pixels: int = Field(3_000_000, ge=10_000)
    face_gif_max_pixels: int = Field(6_000_000, ge=10_000)
    # The quality gate (matching.quality); defaults checked on LFW, the samples and Yale.
    face_min_face_px: int = Field(60, ge=20, description="face box height, original pixels")
    face_multiple_face_ratio: float = Field(0.5, gt=0, le=1, description="a second whole "
                                            "face with at least this share of the largest "
                                            "face's area is multiple_faces unless exactly one "
                                            "of them holds the photo's centre")
    face_min_detection_score: float = Field(0.7, ge=0, le=1, description="YuNet's score "
                                            "below which a detection is not a face")
    face_max_yaw: float = Field(1.0, gt=0, description="nose offset from the face's "
                                "midline in eye distances (0 frontal, 1.0 ~ 60 degrees); "
                                "a face turned further is face_pose (sface only)")
    face_min_brightness: float = Field(40.0, ge=0, le=255)
    face_max_brightness: float = Field(220.0, ge=0, le=255)
    face_min_sharpness: float = Field(20.0, ge=0, description="Laplacian variance of the "
                                      "face scaled to 64x64")
    face_detect_max_side: int | None = Field(None, ge=200, le=4000, description="detection "
                                             "runs on a copy this long; default: the model's "
                                             "own (1000 px for sface, 800 for dlib)")
    face_decode_max_side: int = Field(2000, ge=400, le=10000, description="photos are "
                                      "decoded to at most this long side (JPEG by DCT scaling)")
    face_keep_photos: bool = False
    index_kind: Literal["flat", "hnsw", "ivf"] = "flat"
    index_file: Path | None = Field(None, description="this replica's index cache; default "
                                    "data_dir/faces.index, stored per model as faces-MODEL.index "
                                    "(give each replica its own when they share a data dir)")
    dedup_threshold: float | None = Field(None, gt=0, lt=2, description="overrides calibration")
    dedup_fpir_target: float = Field(1e-2, gt=0, lt=1)
    dedup_top_k: int = Field(10, ge=1, le=100)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        config_file = os.environ.get(CONFIG_ENV)
        if config_file:
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=Path(config_file)))
        return tuple(sources)

    @model_validator(mode="after")
    def _fail_closed(self) -> Settings:
        if self.mode != "production":
            return self
        for name in ("master_key", "otp_webhook_secret"):
            value: SecretStr | None = getattr(self, name)
            if name == "otp_webhook_secret" and self.otp_notifier != "webhook":
                continue
            if value is None:
                raise ValueError(f"AUTHD_{name.upper()} is required in production mode")
            if value.get_secret_value().strip().lower() in PLACEHOLDERS:
                raise ValueError(f"AUTHD_{name.upper()} is a placeholder; set a real secret")
        if self.otp_notifier == "outbox" and not self.otp_outbox_in_production:
            raise ValueError("AUTHD_OTP_NOTIFIER=outbox writes every OTP to a file: production "
                             "needs AUTHD_OTP_NOTIFIER=webhook, or "
                             "AUTHD_OTP_OUTBOX_IN_PRODUCTION=true to allow it")
        if self.database_url is None:
            return self
        if "@" in self.database_url and ":changeme@" in self.database_url.lower():
            raise ValueError("AUTHD_DATABASE_URL holds a placeholder password")
        return self

    @property
    def resolved_database_url(self) -> str:
        return self.database_url or f"sqlite:///{(self.data_dir / 'authd.db').resolve()}"

    @property
    def is_production(self) -> bool:
        return self.mode == "production"
