"""Authenticating a person at a counter, and verifying a resident for their own controls.

route → admit the subject (status, failure cap) → policy admits the presented factors
      → each factor checks its evidence → decide(results, policy) → token → one audit event

Every refusal raises `Refused(reason)`; the client sees one `authentication_failed` body, the
audit log the reason. The whole call is one transaction: attempt counters, consumed OTPs,
the issued token and the audit event commit together, on failure as on success (a refusal is
caught inside the transaction, recorded, committed, then re-raised).
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

from sqlalchemy.orm import Session

from authd.audit.events import AuditContext, AuditRecord, append
from authd.authentication.decision import Decision, Policy, check_presented, decide
from authd.authentication.factors import Checker, FactorContext, face, otp
from authd.errors import FactorNotSupported, Refused
from authd.http.state import AppState
from authd.otp.transactions import Purpose, Verifier
from authd.registry import subjects
from authd.registry.clients import Client
from authd.registry.identities import IdType
from authd.storage.db import transaction
from authd.storage.models import Identity
from authd.tokens.issuance import IssuedToken, issue_token

T = TypeVar("T")
ACTION = "authenticate"
Limits = Callable[[Session], None] | None  # the call's rate limits, run in its transaction

# One entry per supported factor.
CHECKERS: Mapping[str, Checker] = {"otp": otp.check, "face": face.check}


@dataclass(frozen=True)
class Attempt:
    individual_id: str
    id_type: IdType
    txn_id: str | None
    evidence: Mapping[str, Any]  # factor name -> its evidence (an OTP code, an image)

    def __repr__(self) -> str:  # evidence never reaches a log line
        return f"Attempt({self.id_type}, factors={sorted(self.evidence)})"

    @property
    def factor_names(self) -> str:
        return ",".join(sorted(self.evidence))


@dataclass
class Trace:
    """What the audit event of a failed call can name: the person, once resolved."""

    uin: str | None = None
    detail: dict[str, Any] = field(default_factory=dict)


def supported(attempt: Attempt) -> None:
    """A 422 `factor_not_supported` for evidence no checker handles yet (a request error:
    nothing is looked up or counted)."""
    if set(attempt.evidence) - set(CHECKERS):
        raise FactorNotSupported()


def verify_subject(
    session: Session, state: AppState, client: Client, attempt: Attempt, *,
    policy: Policy, purpose: Purpose, now: int, trace: Trace,
) -> tuple[Identity, Decision]:
    check_presented(attempt.evidence, policy)
    identity = _admit(session, state, client, attempt, purpose, now)
    trace.uin = identity.uin
    ctx = FactorContext(session, state, client, identity, attempt.txn_id, purpose, now)
    results = [CHECKERS[name](ctx, attempt.evidence[name]) for name in sorted(attempt.evidence)]
    for result in results:  # audit-safe facts, e.g. the face distance and threshold
        trace.detail.update(result.detail)
    decision = decide(results, policy)
    state.otps.succeed(session, Verifier(identity.id, client.rp_id, purpose))
    return identity, decision


def _admit(session: Session, state: AppState, client: Client, attempt: Attempt,
           purpose: Purpose, now: int) -> Identity:
    try:
        identity = subjects.found(session, attempt.individual_id, attempt.id_type, now)
        verifier = Verifier(identity.id, client.rp_id, purpose)
        return subjects.ensure_usable(session, state.otps, identity, verifier, now,
                                      max_failures=state.settings.max_consecutive_failures)
    except Refused:
        code = attempt.evidence.get("otp")
        if isinstance(code, str) and attempt.txn_id:  # cost what a wrong code costs
            state.otps.equalize(session, attempt.txn_id, code)
        raise


def audited(
    state: AppState, ctx: AuditContext, attempt: Attempt, action: str, now: int,
    work: Callable[[Session, Trace], tuple[T, AuditRecord | None]], limits: Limits = None,
) -> T:
    """Run `work` in one transaction with exactly one audit event, success or refusal (a
    `work` that returns no record writes one on refusal only). `limits` (the rate limits)
    runs first in the same transaction: RateLimited rolls it back, unaudited."""
    trace = Trace(uin=attempt.individual_id if attempt.id_type == "uin" else None)
    with transaction(state.db) as session:
        if limits is not None:
            limits(session)
        try:
            result, record = work(session, trace)
            if record is not None:  # None: a step that only refuses (admit_first)
                append(session, ctx, record, now)
                if action == ACTION:
                    state.metrics.auth_outcomes.labels(attempt.factor_names, "success").inc()
            return result
        except Refused as refusal:
            append(session, ctx, AuditRecord(
                action, "failure", reason=refusal.reason, uin=trace.uin,
                factor=attempt.factor_names,
                detail={"txn_id": attempt.txn_id, "id_type": attempt.id_type, **trace.detail,
                        **refusal.facts},
            ), now)
            failure = refusal
    if action == ACTION:
        state.metrics.auth_outcomes.labels(attempt.factor_names, "failure").inc()
    raise failure


def admit_first(state: AppState, client: Client, attempt: Attempt, ctx: AuditContext,
                now: int, limits: Limits = None) -> None:
    """Resolve and admit the person before costly evidence is computed (a photo decoded and
    encoded): an unknown, deactivated or capped ID is refused here, audited as a failed
    authentication, at the cost of a lookup. `authenticate` admits again, in its own
    transaction, before it looks at the evidence."""
    supported(attempt)

    def work(session: Session, trace: Trace) -> tuple[None, None]:
        trace.uin = _admit(session, state, client, attempt, "auth", now).uin
        return None, None

    audited(state, ctx, attempt, ACTION, now, work, limits)


def authenticate(
    state: AppState, client: Client, attempt: Attempt, ctx: AuditContext, now: int,
    limits: Limits = None,
) -> IssuedToken:
    """A signed token for the person, or Refused."""
    supported(attempt)
    txn = attempt.txn_id or secrets.token_urlsafe(18)

    def work(session: Session, trace: Trace) -> tuple[IssuedToken, AuditRecord]:
        identity, decision = verify_subject(
            session, state, client, attempt, policy=Policy.of(client), purpose="auth",
            now=now, trace=trace)
        token = issue_token(state.tokens, session, client, identity, amr=list(decision.amr),
                            acr=decision.acr, txn=txn, now=now)
        return token, AuditRecord(
            ACTION, "success", uin=identity.uin, factor=attempt.factor_names,
            detail={"txn_id": txn, "id_type": attempt.id_type, "acr": decision.acr,
                    "jti": token.jti, **trace.detail})

    return audited(state, ctx, attempt, ACTION, now, work, limits)
