"""Identity tokens: what a counter receives after a successful authentication.

A JWT (RFC 7519) signed as compact JWS with EdDSA/Ed25519 (RFC 8037; RFC 9864 names the
same signature "Ed25519", which we accept too) by the key ring's active key. Choices, so
that a relying party can verify with nothing but our JWKS:

- header ``typ`` is ``authd-id+jwt`` (RFC 8725 §3.11 explicit typing): our verifiers pin
  it, so no other JWT we or anyone signs with the same keys can pass as an identity token;
- ``acr`` is a string, ``urn:authd:acr:<level>`` (OIDC Core §2: acr is a string);
- ``sub`` is pairwise (OIDC Core §8.1): stable per person per relying party, different
  across relying parties, not reversible without the server's pairwise secret;
- ``exp`` is the relying party's policy (default ``token_ttl_default_seconds``), capped at
  ``token_ttl_max_seconds`` (at most one hour);
- ``uin`` appears only when the relying party's policy allows it.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import insert
from sqlalchemy.orm import Session

from authd.registry.clients import Client
from authd.settings import Settings
from authd.storage import models
from authd.tokens.rotation import LEEWAY_SECONDS, SigningKeys
from keys import InvalidToken, pairwise_sub, sign_jwt, verify_jwt

TOKEN_TYP = "authd-id+jwt"  # noqa: S105 (a media type, not a secret)
ACR_PREFIX = "urn:authd:acr:"
TOKEN_TYPE = "Bearer"  # noqa: S105


@dataclass(frozen=True, kw_only=True)
class IssuedToken:
    token: str
    token_type: str = TOKEN_TYPE
    expires_at: int
    jti: str

    def __repr__(self) -> str:  # the token is a bearer credential: never in a log line
        return f"IssuedToken(jti={self.jti!r}, expires_at={self.expires_at})"


@dataclass(frozen=True)
class TokenIssuer:
    """What issuing and checking tokens needs: the signing keys and the server's policy."""

    signing: SigningKeys
    issuer: str
    default_ttl: int
    max_ttl: int
    pairwise_key: bytes = field(repr=False)

    @classmethod
    def of(cls, signing: SigningKeys, settings: Settings, pairwise_key: bytes) -> TokenIssuer:
        return cls(signing, settings.issuer, settings.token_ttl_default_seconds,
                   settings.token_ttl_max_seconds, pairwise_key)


def acr_value(level: int) -> str:
    return f"{ACR_PREFIX}{level}"


def token_ttl(issuer: TokenIssuer, client: Client) -> int:
    """The relying party's token lifetime, within the server's cap."""
    wanted = client.token_ttl_seconds or issuer.default_ttl
    return max(1, min(wanted, issuer.max_ttl))


def build_claims(
    issuer: TokenIssuer, client: Client, uin: str, *, amr: list[str], acr: int, txn: str,
    now: int,
) -> dict[str, Any]:
    claims: dict[str, Any] = {
        "iss": issuer.issuer,
        "aud": client.rp_id,
        "sub": pairwise_sub(issuer.pairwise_key, client.rp_id, uin),
        "iat": now,
        "nbf": now,
        "exp": now + token_ttl(issuer, client),
        "jti": secrets.token_urlsafe(18),
        "amr": list(amr),
        "acr": acr_value(acr),
        "txn": txn,
    }
    if client.uin_in_token:
        claims["uin"] = uin
    return claims


def issue_token(
    issuer: TokenIssuer, session: Session, client: Client, identity: models.Identity, *,
    amr: list[str], acr: int, txn: str, now: int,
) -> IssuedToken:
    """Sign a token for ``identity`` at ``client`` and record it (within the caller's
    transaction) so that introspection and revocation can find it."""
    # Follow a rotation made by another process before signing: a key retired elsewhere
    # must not sign tokens that would outlive its publication in JWKS.
    issuer.signing.refresh()
    issuer.signing.rotate_if_due(now)
    claims = build_claims(issuer, client, identity.uin, amr=amr, acr=acr, txn=txn, now=now)
    token = sign_jwt(claims, issuer.signing.keyring.active, typ=TOKEN_TYP)
    session.execute(_RECORD, {"jti": claims["jti"], "rp_id": client.rp_id,
                              "identity_id": identity.id, "issued_at": now,
                              "expires_at": claims["exp"]})
    return IssuedToken(token=token, expires_at=claims["exp"], jti=claims["jti"])


_RECORD = insert(models.table_of(models.IssuedToken))  # Core: nothing reads the row back here


def verify_for(issuer: TokenIssuer, token: str, audience: str, now: int) -> dict[str, Any]:
    """Verify ``token`` as an identity token for ``audience``; raises keys.InvalidToken.

    Only keys in the ring as it is on disk now, and still published in JWKS, are accepted,
    so introspection agrees with a relying party verifying offline. The ring is re-read
    when ring.json changed (another process rotated, pruned or revoked a key): one ``stat``
    per verification, so a revoked key stops verifying here at once, not at the next upkeep.
    """
    issuer.signing.refresh()
    claims = verify_jwt(token, keys=issuer.signing.published_key(now), audience=audience,
                        issuer=issuer.issuer, now=now, leeway=LEEWAY_SECONDS,
                        typ=TOKEN_TYP)
    # The leeway absorbs clock skew between replicas for nbf/iat; expiry itself is strict.
    if claims["exp"] <= now:
        raise InvalidToken("expired")
    if not isinstance(claims.get("jti"), str):
        raise InvalidToken("malformed")
    return claims


def active_claims(
    issuer: TokenIssuer, session: Session, token: str, audience: str, now: int
) -> dict[str, Any]:
    """RFC 7662 "active": valid for ``audience`` under the current ring, issued by us as it
    is (its ``exp`` is the one recorded at issue), unexpired by that record, not revoked.

    Raises InvalidToken with the reason (for the audit log; the caller only says inactive).
    """
    claims = verify_for(issuer, token, audience, now)
    issued = _issued(session, claims, audience)
    if issued.expires_at <= now:
        raise InvalidToken("expired")
    if session.get(models.RevokedToken, issued.jti) is not None:
        raise InvalidToken("revoked")
    return claims


def _issued(session: Session, claims: dict[str, Any], audience: str) -> models.IssuedToken:
    """The record made at issue; a token that claims another expiry than the one we recorded
    was not signed by us as it is (a stolen key), and the record's expiry is the one that
    counts."""
    issued = session.get(models.IssuedToken, claims["jti"])
    if issued is None or issued.rp_id != audience:
        raise InvalidToken("unknown_jti")
    if claims["exp"] != issued.expires_at:
        raise InvalidToken("exp_mismatch")
    return issued


def revoke(
    issuer: TokenIssuer, session: Session, token: str, audience: str, now: int
) -> models.Identity:
    """Revoke a token of ``audience`` (RFC 7009 §2.1) and return whose it was.

    Raises InvalidToken when it is not an active token of that audience (revoking an
    already revoked token is not an error: revocation is idempotent).
    """
    claims = verify_for(issuer, token, audience, now)
    issued = _issued(session, claims, audience)
    if session.get(models.RevokedToken, issued.jti) is None:
        session.add(models.RevokedToken(jti=issued.jti, expires_at=issued.expires_at,
                                        revoked_at=now))
    identity = session.get(models.Identity, issued.identity_id)
    assert identity is not None  # foreign key
    return identity
