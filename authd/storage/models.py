"""The relational schema: one definition for SQLite and PostgreSQL (Alembic migrates it)."""

from __future__ import annotations

from datetime import date
from typing import cast

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Date,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

# Epoch seconds everywhere: one clock type, comparable in SQL on both databases.
Epoch = BigInteger
PK = BigInteger().with_variant(Integer(), "sqlite")


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


def table_of(model: type[Base]) -> Table:
    """The Core table of a mapped class, for statements that skip the ORM's unit of work
    (`__table__` is only a FromClause to a type checker)."""
    return cast("Table", model.__table__)


class Identity(Base):
    __tablename__ = "identities"
    id: Mapped[int] = mapped_column(PK, primary_key=True, autoincrement=True)
    uin: Mapped[str] = mapped_column(String(12), unique=True)
    status: Mapped[str] = mapped_column(String(16), default="active")
    name: Mapped[str | None] = mapped_column(String(200))
    date_of_birth: Mapped[date | None] = mapped_column(Date)
    sex: Mapped[str | None] = mapped_column(String(1))
    phone: Mapped[str | None] = mapped_column(String(32))
    email: Mapped[str | None] = mapped_column(String(254))
    created_at: Mapped[int] = mapped_column(Epoch)
    updated_at: Mapped[int] = mapped_column(Epoch)
    # Face template, sealed (AES-256-GCM, associated data = identity id + template version).
    template: Mapped[bytes | None] = mapped_column(LargeBinary)
    template_version: Mapped[int] = mapped_column(Integer, default=0)
    template_model: Mapped[str | None] = mapped_column(String(64), index=True)
    template_quality: Mapped[dict | None] = mapped_column(JSON)
    # Deferred: loaded when read, not with every lookup of the person (an OTP, a token).
    photo: Mapped[bytes | None] = mapped_column(LargeBinary, deferred=True)
    locks: Mapped[list] = mapped_column(JSON, default=list)
    consecutive_failures: Mapped[int] = mapped_column(Integer, default=0)


class Vid(Base):
    __tablename__ = "vids"
    vid: Mapped[str] = mapped_column(String(16), primary_key=True)
    identity_id: Mapped[int] = mapped_column(ForeignKey("identities.id"), index=True)
    kind: Mapped[str] = mapped_column(String(16))  # perpetual | temporary
    created_at: Mapped[int] = mapped_column(Epoch)
    expires_at: Mapped[int | None] = mapped_column(Epoch)
    revoked_at: Mapped[int | None] = mapped_column(Epoch)


class RelyingParty(Base):
    __tablename__ = "relying_parties"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    allowed_factors: Mapped[list] = mapped_column(JSON)
    min_acr: Mapped[int] = mapped_column(Integer, default=1)
    token_ttl_seconds: Mapped[int] = mapped_column(Integer, default=300)
    uin_in_token: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[int] = mapped_column(Epoch)


class ApiKey(Base):
    __tablename__ = "api_keys"
    key_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    rp_id: Mapped[str] = mapped_column(ForeignKey("relying_parties.id"), index=True)
    secret_hash: Mapped[str] = mapped_column(String(64))
    scopes: Mapped[list] = mapped_column(JSON)
    created_at: Mapped[int] = mapped_column(Epoch)
    expires_at: Mapped[int] = mapped_column(Epoch)
    revoked_at: Mapped[int | None] = mapped_column(Epoch)
    holder: Mapped[str | None] = mapped_column(String(100))  # the person holding the key


class AuditEvent(Base):
    """One audited call, written in the caller's transaction with an ordered id (seq) and no
    chain fields; the sequencer (authd.audit.sequencer) later sets chain_pos, prev_hash and hash."""

    __tablename__ = "audit_events"
    seq: Mapped[int] = mapped_column(PK, primary_key=True, autoincrement=True)
    at: Mapped[int] = mapped_column(Epoch)
    request_id: Mapped[str] = mapped_column(String(64))
    rp_id: Mapped[str | None] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(64))
    outcome: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str | None] = mapped_column(String(64))
    subject: Mapped[str | None] = mapped_column(String(64))  # masked UIN
    subject_ref: Mapped[str | None] = mapped_column(String(64), index=True)  # keyed hash of UIN
    factor: Mapped[str | None] = mapped_column(String(32))
    detail: Mapped[dict | None] = mapped_column(JSON)
    prev_hash: Mapped[str | None] = mapped_column(String(64))
    hash: Mapped[str | None] = mapped_column(String(64))
    chain_pos: Mapped[int | None] = mapped_column(BigInteger)
    __table_args__ = (
        Index("ix_audit_events_chain_pos", "chain_pos", unique=True),
        Index("ix_audit_events_unlinked", "seq", postgresql_where=text("chain_pos IS NULL"),
              sqlite_where=text("chain_pos IS NULL")),
    )


class AuditHead(Base):
    """One row, written by the sequencer only: how many events are linked and the chain head
    (a deleted tail of linked events shows as a head beyond the last one found)."""

    __tablename__ = "audit_head"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    seq: Mapped[int] = mapped_column(PK, default=0)
    hash: Mapped[str] = mapped_column(String(64))


class AuditCheckpoint(Base):
    """A signed checkpoint of the chain head (tree size + chain hash), as a JWS compact."""

    __tablename__ = "audit_checkpoints"
    id: Mapped[int] = mapped_column(PK, primary_key=True, autoincrement=True)
    tree_size: Mapped[int] = mapped_column(BigInteger)
    chain_hash: Mapped[str] = mapped_column(String(64))
    at: Mapped[int] = mapped_column(Epoch)
    kid: Mapped[str] = mapped_column(String(64))
    jws: Mapped[str] = mapped_column(Text)


class OtpTransaction(Base):
    __tablename__ = "otp_transactions"
    txn_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    identity_id: Mapped[int] = mapped_column(ForeignKey("identities.id"), index=True)
    rp_id: Mapped[str] = mapped_column(String(64))
    purpose: Mapped[str] = mapped_column(String(16), default="auth")
    code_hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[int] = mapped_column(Epoch)
    expires_at: Mapped[int] = mapped_column(Epoch)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    used_at: Mapped[int | None] = mapped_column(Epoch)
    burned: Mapped[bool] = mapped_column(Boolean, default=False)
    # Set when a newer OTP for the same (identity, relying party) replaced this one.
    superseded_at: Mapped[int | None] = mapped_column(Epoch)
    __table_args__ = (Index("ix_otp_identity_rp", "identity_id", "rp_id"),)


class AuthFailure(Base):
    """Consecutive failed authentications of one verifier: an identity through one relying
    party for one purpose (authd.otp.transactions.Verifier). Forgotten `failure_lock_seconds` after
    `last_at`, on a success, or by `authd identity reset-failures`."""

    __tablename__ = "auth_failures"
    identity_id: Mapped[int] = mapped_column(ForeignKey("identities.id"), primary_key=True)
    rp_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    purpose: Mapped[str] = mapped_column(String(16), primary_key=True)
    count: Mapped[int] = mapped_column(Integer, default=0)
    last_at: Mapped[int] = mapped_column(Epoch, index=True)


class RateBucket(Base):
    """One token bucket of the in-database rate limiter
    (authd.authentication.limiter.DatabaseLimiter)."""

    __tablename__ = "rate_buckets"
    key: Mapped[str] = mapped_column(String(128), primary_key=True)
    tokens: Mapped[float] = mapped_column(Float)
    updated_at: Mapped[float] = mapped_column(Float, index=True)


class RevokedToken(Base):
    __tablename__ = "revoked_tokens"
    jti: Mapped[str] = mapped_column(String(64), primary_key=True)
    expires_at: Mapped[int] = mapped_column(Epoch)
    revoked_at: Mapped[int] = mapped_column(Epoch)


class IssuedToken(Base):
    """What introspection needs to know of a token, without the token itself."""

    __tablename__ = "issued_tokens"
    jti: Mapped[str] = mapped_column(String(64), primary_key=True)
    rp_id: Mapped[str] = mapped_column(String(64))
    identity_id: Mapped[int] = mapped_column(ForeignKey("identities.id"))
    issued_at: Mapped[int] = mapped_column(Epoch)
    expires_at: Mapped[int] = mapped_column(Epoch)


class DedupCase(Base):
    __tablename__ = "dedup_cases"
    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    identity_id: Mapped[int] = mapped_column(ForeignKey("identities.id"), index=True)
    opened_by: Mapped[str] = mapped_column(String(64))
    opened_at: Mapped[int] = mapped_column(Epoch)
    status: Mapped[str] = mapped_column(String(16), default="open")
    candidates: Mapped[list] = mapped_column(JSON)
    pending_template: Mapped[bytes | None] = mapped_column(LargeBinary)
    template_model: Mapped[str | None] = mapped_column(String(64))  # of pending_template
    decision: Mapped[str | None] = mapped_column(String(16))
    reason: Mapped[str | None] = mapped_column(Text)
    resolved_by: Mapped[str | None] = mapped_column(String(64))
    resolved_at: Mapped[int | None] = mapped_column(Epoch)
    duplicate_of: Mapped[int | None] = mapped_column(BigInteger)
    opened_holder: Mapped[str | None] = mapped_column(String(100))  # four eyes: people, not keys
    resolved_holder: Mapped[str | None] = mapped_column(String(100))
    candidate_set: Mapped[str | None] = mapped_column(String(64))  # hash of candidate ids
    threshold: Mapped[float | None] = mapped_column(Float)  # dedup distance threshold used
    threshold_fmr: Mapped[float | None] = mapped_column(Float)  # its calibrated FMR, if any
    __table_args__ = (Index("ix_dedup_cases_open_set", "identity_id", "candidate_set", "status"),)


class DedupDistinctPair(Base):
    """Two identities an adjudicator decided are different people (`distinct`): a later
    enrollment of either is not held for the other again. low_id < high_id."""

    __tablename__ = "dedup_distinct_pairs"
    low_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    high_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, index=True)
    case_id: Mapped[str] = mapped_column(String(36))
    decided_at: Mapped[int] = mapped_column(Epoch)


class GalleryChange(Base):
    """Append-only log of template changes: every replica replays it to keep its index in step.

    Written in the same transaction as the change, so the log is exactly as durable as the
    database; an index file is only ever a cache of (database state up to some seq).
    """

    __tablename__ = "gallery_changes"
    seq: Mapped[int] = mapped_column(PK, primary_key=True, autoincrement=True)
    identity_id: Mapped[int] = mapped_column(BigInteger, index=True)
    at: Mapped[int] = mapped_column(Epoch)


class FaceMigration(Base):
    """A re-encoding of the gallery under another face model (`authd faces migrate`).

    Under way while `finished_at` is null: servers then load the old model too, so identities
    not yet re-encoded (no kept photo) still authenticate on their old template.
    """

    __tablename__ = "face_migrations"
    id: Mapped[int] = mapped_column(PK, primary_key=True, autoincrement=True)
    to_model: Mapped[str] = mapped_column(String(64))
    started_at: Mapped[int] = mapped_column(Epoch)
    updated_at: Mapped[int] = mapped_column(Epoch)
    finished_at: Mapped[int | None] = mapped_column(Epoch)
