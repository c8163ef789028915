"""The decision: given the factors that verified and the relying party's policy, the
authentication methods (RFC 8176 `amr`) and assurance level (`acr` = number of distinct
factors). Pure: no I/O, no clock."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from authd.authentication.factors import FactorResult
from authd.errors import Refused
from authd.registry.clients import Client


@dataclass(frozen=True)
class Policy:
    allowed_factors: frozenset[str]
    min_acr: int

    @classmethod
    def of(cls, client: Client) -> Policy:
        return cls(frozenset(client.allowed_factors), max(1, client.min_acr))


@dataclass(frozen=True)
class Decision:
    amr: tuple[str, ...]
    acr: int


RESIDENT_POLICY = Policy(frozenset({"otp"}), 1)


def decide(results: Iterable[FactorResult], policy: Policy) -> Decision:
    """Raises Refused unless some factor verified (`factor_failed`), each is allowed
    (`factor_not_allowed`: outside the relying party's policy) and enough distinct factors did
    (`acr_too_low`: a two-factor relying party needs face and otp)."""
    factors = sorted({r.factor for r in results})
    if not factors:
        raise Refused("factor_failed")
    if set(factors) - policy.allowed_factors:
        raise Refused("factor_not_allowed")
    if len(factors) < policy.min_acr:
        raise Refused("acr_too_low")
    return Decision(tuple(factors), len(factors))


def check_presented(presented: Iterable[str], policy: Policy) -> None:
    """The decision that would follow if every presented factor verified: checked before
    any evidence is, so an OTP is not consumed for an authentication that cannot succeed."""
    decide([FactorResult(name) for name in presented], policy)
