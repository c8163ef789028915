"""authd.authentication.decision: the pure decision from verified factors and a policy.

Every policy (allowed factors x minimum acr) against every presented factor set, spelt out;
then properties over any results and policy (hypothesis). No I/O, no clock.
"""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from authd.authentication.decision import (
    RESIDENT_POLICY,
    Decision,
    Policy,
    check_presented,
    decide,
)
from authd.authentication.factors import FactorResult
from authd.errors import Refused
from authd.registry.clients import Client

OTP, FACE = "otp", "face"


def ok(*factors: str) -> list[FactorResult]:
    return [FactorResult(factor) for factor in factors]


def refusal(results: list[FactorResult], policy: Policy) -> str:
    with pytest.raises(Refused) as err:
        decide(results, policy)
    return err.value.reason


# (allowed factors, min_acr, presented factors) -> Decision, or the refusal's reason.
TABLE = [
    ({OTP}, 1, [OTP], Decision((OTP,), 1)),
    ({OTP}, 1, [FACE], "factor_not_allowed"),
    ({OTP}, 1, [OTP, FACE], "factor_not_allowed"),
    ({OTP}, 2, [OTP], "acr_too_low"),
    ({OTP}, 2, [FACE], "factor_not_allowed"),
    ({OTP}, 2, [OTP, FACE], "factor_not_allowed"),
    ({FACE}, 1, [OTP], "factor_not_allowed"),
    ({FACE}, 1, [FACE], Decision((FACE,), 1)),
    ({FACE}, 1, [OTP, FACE], "factor_not_allowed"),
    ({FACE}, 2, [OTP], "factor_not_allowed"),
    ({FACE}, 2, [FACE], "acr_too_low"),
    ({FACE}, 2, [FACE, OTP], "factor_not_allowed"),
    ({OTP, FACE}, 1, [OTP], Decision((OTP,), 1)),
    ({OTP, FACE}, 1, [FACE], Decision((FACE,), 1)),
    ({OTP, FACE}, 1, [OTP, FACE], Decision((FACE, OTP), 2)),
    ({OTP, FACE}, 1, [FACE, OTP], Decision((FACE, OTP), 2)),
    ({OTP, FACE}, 2, [OTP], "acr_too_low"),
    ({OTP, FACE}, 2, [FACE], "acr_too_low"),
    ({OTP, FACE}, 2, [OTP, FACE], Decision((FACE, OTP), 2)),
    ({OTP, FACE}, 3, [OTP, FACE], "acr_too_low"),
    (set(), 1, [OTP], "factor_not_allowed"),
]


@pytest.mark.parametrize(("allowed", "min_acr", "presented", "expected"), TABLE)
def test_every_policy_against_every_factor_set(allowed, min_acr, presented, expected) -> None:
    policy = Policy(frozenset(allowed), min_acr)
    if isinstance(expected, Decision):
        assert decide(ok(*presented), policy) == expected
        check_presented(presented, policy)  # the same answer before any evidence is checked
    else:
        assert refusal(ok(*presented), policy) == expected
        with pytest.raises(Refused) as err:
            check_presented(presented, policy)
        assert err.value.reason == expected


def test_the_same_factor_twice_counts_once() -> None:
    policy = Policy(frozenset({OTP, FACE}), 2)
    assert refusal(ok(OTP, OTP), policy) == "acr_too_low"
    assert decide(ok(OTP, FACE, OTP), policy) == Decision((FACE, OTP), 2)


def test_nothing_presented_is_refused() -> None:
    assert refusal([], Policy(frozenset({OTP, FACE}), 1)) == "factor_failed"
    with pytest.raises(Refused):
        check_presented([], Policy(frozenset({OTP}), 1))


def test_resident_policy_is_one_otp() -> None:
    assert decide(ok(OTP), RESIDENT_POLICY) == Decision((OTP,), 1)
    assert refusal(ok(FACE), RESIDENT_POLICY) == "factor_not_allowed"
    assert refusal(ok(OTP, FACE), RESIDENT_POLICY) == "factor_not_allowed"


def client(factors: tuple[str, ...], min_acr: int) -> Client:
    return Client(rp_id="rp", rp_name="RP", key_id="k", scopes=frozenset({"auth"}),
                  allowed_factors=factors, min_acr=min_acr, token_ttl_seconds=300,
                  uin_in_token=False)


@pytest.mark.parametrize(("min_acr", "expected"), [(-1, 1), (0, 1), (1, 1), (2, 2), (5, 5)])
def test_policy_of_a_client_needs_at_least_one_factor(min_acr: int, expected: int) -> None:
    policy = Policy.of(client((OTP, FACE), min_acr))
    assert policy == Policy(frozenset({OTP, FACE}), expected)


def test_a_client_with_min_acr_zero_still_needs_a_factor() -> None:
    with pytest.raises(Refused):
        decide([], Policy.of(client((OTP,), 0)))


NAMES = st.sampled_from([OTP, FACE, "pin", "bio"])
# A factor that fails raises Refused itself: the decision only ever sees verified factors.
RESULTS = st.lists(st.builds(FactorResult, NAMES), max_size=6)
POLICIES = st.builds(Policy, st.frozensets(NAMES), st.integers(min_value=1, max_value=4))


@given(RESULTS, POLICIES)
def test_decide_is_exactly_the_documented_rule(results: list[FactorResult], policy: Policy) -> None:
    presented = {r.factor for r in results}
    if not results:
        expected: Decision | str = "factor_failed"
    elif presented - policy.allowed_factors:
        expected = "factor_not_allowed"
    elif len(presented) < policy.min_acr:
        expected = "acr_too_low"
    else:
        expected = Decision(tuple(sorted(presented)), len(presented))
    if isinstance(expected, Decision):
        assert decide(results, policy) == expected
    else:
        assert refusal(results, policy) == expected


@given(RESULTS, POLICIES, st.randoms(use_true_random=False))
def test_order_and_repetition_do_not_matter(results, policy, rnd) -> None:
    shuffled = results + results[: len(results) // 2]
    rnd.shuffle(shuffled)
    try:
        first: Decision | str = decide(results, policy)
    except Refused as err:
        first = err.reason
    try:
        second: Decision | str = decide(iter(shuffled), policy)  # any iterable, consumed once
    except Refused as err:
        second = err.reason
    assert first == second


@given(RESULTS, POLICIES)
def test_a_decision_never_exceeds_the_policy(results, policy) -> None:
    try:
        decision = decide(results, policy)
    except Refused:
        return
    assert set(decision.amr) <= policy.allowed_factors
    assert list(decision.amr) == sorted(set(decision.amr))
    assert decision.acr == len(decision.amr) >= policy.min_acr
    assert set(decision.amr) == {r.factor for r in results}


@given(st.lists(NAMES, max_size=5), POLICIES)
def test_admissible_agrees_with_decide_on_verified_factors(presented, policy) -> None:
    try:
        decide(ok(*presented), policy)
        expected = None
    except Refused as err:
        expected = err.reason
    try:
        check_presented(presented, policy)
        got = None
    except Refused as err:
        got = err.reason
    assert got == expected
