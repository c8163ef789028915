"""What the lifespan opens once and every request shares: database, keys, clock, metrics, the
OTP store and notifier, the rate limiter, the face services; each a typed field."""

from __future__ import annotations

import fcntl
import logging
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from authd.audit.sequencer import Chain
from authd.authentication.limiter import Limiter, build_limiter
from authd.authentication.throttle import Throttle
from authd.clock import Clock
from authd.faces.gallery import Gallery
from authd.faces.service import FaceQueue, FaceService, ModelFaces
from authd.faces.vault import TemplateVault
from authd.http.metrics import Metrics
from authd.otp.notify import BackgroundNotifier, build_notifier
from authd.otp.requests import OtpSender
from authd.otp.stores import build_store
from authd.otp.transactions import OtpStore
from authd.registry.clients import ClientCache
from authd.settings import Settings
from authd.storage.db import make_engine, migrate, session_factory, wait_for_database
from authd.tokens.issuance import TokenIssuer
from authd.tokens.rotation import SigningKeys
from keys import KeyRing, SealingKeyStore, generate_master_key, hash_secret, parse_master_key
from keys.keyfile import atomic_write

log = logging.getLogger("authd.http.state")
ReadinessCheck = Callable[[], str]  # "ok" or "failing"
DEV_MASTER_KEY_FILE = "dev-master.key"


@dataclass(frozen=True)
class DerivedSecrets:
    """Purpose-bound secrets derived from the master key (one key, many independent uses)."""

    subject_key: bytes
    pairwise_key: bytes
    otp_key: bytes

    @classmethod
    def from_master(cls, master: bytes) -> DerivedSecrets:
        def derive(label: str) -> bytes:
            return bytes.fromhex(hash_secret(master, f"authd/{label}"))

        return cls(derive("subject-ref"), derive("pairwise-sub"), derive("otp"))

    def __repr__(self) -> str:
        return "DerivedSecrets(...)"


@dataclass
class AppState:
    settings: Settings
    engine: Engine
    db: sessionmaker[Session]
    clock: Clock
    secrets: DerivedSecrets
    signing: SigningKeys
    tokens: TokenIssuer
    sealer: TemplateVault
    metrics: Metrics
    otps: OtpStore
    notifier: BackgroundNotifier  # OTP delivery, off the request path
    limiter: Limiter
    client_cache: ClientCache = field(default_factory=lambda: ClientCache(0))
    readiness: dict[str, ReadinessCheck] = field(default_factory=dict)  # beyond db and keys
    faces: FaceService | None = None  # opened by the app's lifespan (models are heavy)
    gallery: Gallery | None = None
    legacy_faces: tuple[ModelFaces, ...] = ()  # older models, during a migration away
    face_queue: FaceQueue | None = None  # photos in flight per relying party (faces.runtime)

    @property
    def keyring(self) -> KeyRing:
        return self.signing.keyring

    @cached_property
    def db_read(self) -> sessionmaker[Session]:
        """Sessions for reads only: on SQLite they never wait for a writer."""
        return session_factory(self.engine, readonly=True)

    def throttle(self) -> Throttle:
        """The rate limits an authentication or OTP call passes first."""
        return Throttle.of(self.limiter, self.settings, self.secrets.otp_key)

    def otp_sender(self) -> OtpSender:
        """What requesting an OTP needs: the database, the store, the notifier, the policy."""
        return OtpSender.of(self.db, self.otps, self.notifier, self.settings,
                            self.secrets.otp_key)

    def audit_chain(self) -> Chain:
        """What the audit sequencer links and signs with."""
        return Chain(self.engine, self.db, self.db_read, self.signing,
                     f"{self.settings.issuer}/audit", self.clock,
                     self.settings.audit_link_seconds, self.settings.audit_checkpoint_seconds)

    def close(self) -> None:
        self.notifier.close()
        self.limiter.close()
        self.otps.close()
        self.engine.dispose()


def dev_master_key_path(settings: Settings) -> Path:
    """Where development keeps its generated master key: outside the data dir it protects
    (a copy or backup of the data dir must not carry the key that opens its key files)."""
    if settings.dev_secrets_dir is not None:
        return settings.dev_secrets_dir / DEV_MASTER_KEY_FILE
    data_dir = settings.data_dir.resolve()
    return data_dir.parent / f"{data_dir.name}-dev-secrets" / DEV_MASTER_KEY_FILE


def resolve_master_key(settings: Settings) -> bytes:
    """The configured master key; in development, one generated once beside the data dir."""
    if settings.master_key is not None:
        return parse_master_key(settings.master_key.get_secret_value())
    if settings.is_production:  # settings validation already refuses this; belt and braces
        raise RuntimeError("AUTHD_MASTER_KEY is required in production mode")
    path = dev_master_key_path(settings)
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    legacy = settings.data_dir / DEV_MASTER_KEY_FILE  # where earlier builds kept it
    if legacy.exists() and not path.exists():
        os.replace(legacy, path)
        log.warning("development mode: moved the master key out of the data dir",
                    extra={"path": str(path)})
    if not path.exists():
        atomic_write(path, generate_master_key().hex().encode())
        log.warning("development mode: generated a master key file", extra={"path": str(path)})
    return parse_master_key(path.read_text().strip())


@contextmanager
def data_dir_lock(data_dir: Path) -> Iterator[None]:
    fd = os.open(data_dir / ".start-lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)  # released by close, or by the process's death
        yield
    finally:
        os.close(fd)


def prepare_data_dir(settings: Settings) -> Path:
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    os.chmod(settings.data_dir, 0o700)
    return settings.data_dir


def open_database(settings: Settings) -> tuple[Engine, sessionmaker[Session]]:
    engine = make_engine(settings.resolved_database_url, synchronous=settings.sqlite_synchronous)
    wait_for_database(engine, settings.database_wait_seconds,
                      say=lambda line: print(line, file=sys.stderr, flush=True))
    migrate(engine)
    return engine, session_factory(engine)


def open_state(settings: Settings, clock: Clock | None = None) -> AppState:
    clock = clock or Clock()
    data_dir = prepare_data_dir(settings)
    engine, db = open_database(settings)
    # Replicas sharing a data dir (a compose volume) start at once: one creates the master
    # key and the key rings, the others wait and load them (else each writes its own ring
    # and the last writer's replaces keys the others already sign with).
    with data_dir_lock(data_dir):
        master = resolve_master_key(settings)
        keyring = KeyRing.load_or_create(data_dir / "signing-keys", master, clock.now())
        keyring.rotate_if_due(clock.now(), settings.key_rotation_days * 86400)
        sealing_dir = data_dir / "sealing-keys"
        sealer = TemplateVault(SealingKeyStore(sealing_dir, master), sealing_dir)
    derived = DerivedSecrets.from_master(master)
    signing = SigningKeys.of(keyring, settings)
    return AppState(
        settings=settings, engine=engine, db=db, clock=clock, secrets=derived,
        signing=signing, tokens=TokenIssuer.of(signing, settings, derived.pairwise_key),
        sealer=sealer, metrics=Metrics(), otps=build_store(settings, derived.otp_key),
        notifier=build_notifier(settings, data_dir), limiter=build_limiter(settings, engine),
        client_cache=ClientCache(settings.api_key_cache_seconds, timer=clock.now),
    )
