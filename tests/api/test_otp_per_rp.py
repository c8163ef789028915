"""An attack through one relying party's key never locks the person out elsewhere (issue 9
item 2): failures and rate limits count per (identity, relying party, purpose), the cap still
holds per relying party, and a lock lifts by itself after `failure_lock_seconds` or by an
operator reset. Over HTTP with two relying parties' keys, on both databases and both OTP
stores (database, Redis)."""

from __future__ import annotations

import pytest

from authd.storage.db import transaction
from tests.helpers import (
    assert_refused,
    authenticate,
    code_of,
    counter,
    enroll,
    failures,
    identity_id,
    outbox,
    reasons,
    request_otp,
    txn_of,
    wrong,
)

CAP, LOCK = 5, 600


@pytest.fixture
def settings(settings, otp_store, request):
    return settings.model_copy(update={
        "max_consecutive_failures": CAP, "failure_lock_seconds": LOCK, "rate_id_burst": 1000,
        **otp_store, **getattr(request, "param", {})})


def attack(client, state, clock, headers, uin) -> None:
    """Wrong guesses through one key until that relying party's cap is reached."""
    while failures(state, uin) < CAP:
        txn = txn_of(client, headers, uin)
        for _ in range(state.settings.otp_max_attempts):
            assert_refused(authenticate(client, headers, uin, txn, "000000"))
        clock.offset += 31  # the resend cool-down
    assert failures(state, uin) == CAP


def works(client, state, headers, uin) -> bool:
    """An OTP is sent and the right code yields a token (at the cap none is sent)."""
    txn = txn_of(client, headers, uin)
    if not any(m["txn_id"] == txn for m in outbox(state)):
        return False
    return authenticate(client, headers, uin, txn, code_of(state, txn)).status_code == 200


def history(client, state, headers, uin) -> int:
    txn = txn_of(client, headers, uin, purpose="resident")
    body = {"individual_id": uin, "id_type": "uin", "txn_id": txn, "otp": code_of(state, txn)}
    return client.post("/v1/auth-history/query", headers=headers, json=body).status_code


def test_an_attack_through_one_key_locks_only_that_relying_party(client, state, clock):
    uin = enroll(client, state)
    a, b = counter(state), counter(state, rp_id="program-b")
    attack(client, state, clock, a, uin)
    assert not works(client, state, a, uin)  # no OTP sent at the cap
    assert reasons(state, "otp.request")[-1] == "failure_cap_reached"
    assert works(client, state, b, uin)  # another program: untouched
    assert failures(state, uin, "program-b") == 0
    assert history(client, state, a, uin) == 200  # the resident's controls, same program


def test_the_cap_holds_per_relying_party(client, state, clock):
    uin = enroll(client, state)
    a, b = counter(state), counter(state, rp_id="program-b")
    attack(client, state, clock, a, uin)
    clock.offset += 31
    txn = txn_of(client, a, uin)  # nothing stored or sent at the cap: a decoy txn
    for _ in range(10):  # every further guess is refused before the code is looked at
        assert_refused(authenticate(client, a, uin, txn, "000000"))
    assert failures(state, uin) == CAP
    assert reasons(state)[-10:] == ["failure_cap_reached"] * 10
    for _ in range(2):  # program-b counts on its own (up to its own cap)
        txn = txn_of(client, b, uin)
        assert_refused(authenticate(client, b, uin, txn, wrong(code_of(state, txn))))
        clock.offset += 31
    assert (failures(state, uin), failures(state, uin, "program-b")) == (CAP, 2)


def test_a_lock_lifts_by_itself_after_the_configured_time(client, state, clock):
    uin, a = enroll(client, state), counter(state)
    attack(client, state, clock, a, uin)
    last_failure = clock.offset - 31  # attack() waited out the resend cool-down after it
    clock.offset += 31
    assert not works(client, state, a, uin)
    clock.offset = last_failure + LOCK - 1  # counted from the last failure: still locked
    assert failures(state, uin) == CAP
    clock.offset = last_failure + LOCK
    assert failures(state, uin) == 0
    assert works(client, state, a, uin)


def test_an_operator_reset_lifts_a_lock_at_one_relying_party(client, state, clock):
    uin = enroll(client, state)
    a, b = counter(state), counter(state, rp_id="program-b")
    attack(client, state, clock, a, uin)
    txn = txn_of(client, b, uin)
    assert_refused(authenticate(client, b, uin, txn, wrong(code_of(state, txn))))
    with transaction(state.db) as session:
        assert state.otps.reset(session, identity_id(state, uin), "program-a") == 1
    assert failures(state, uin) == 0 and failures(state, uin, "program-b") == 1
    clock.offset += 31
    assert works(client, state, a, uin)


@pytest.mark.parametrize("settings", [{"rate_id_burst": 4, "rate_id_per_minute": 1}],
                         indirect=True)
def test_one_programs_rate_limit_never_throttles_another_or_the_resident(client, state,
                                                                         clock):
    uin = enroll(client, state)
    a, b = counter(state), counter(state, rp_id="program-b")
    statuses = [authenticate(client, a, uin, "some-txn-id", "123456").status_code
                for _ in range(6)]
    assert statuses == [401] * 4 + [429] * 2  # program-a's bucket for this ID is empty
    assert request_otp(client, a, uin).status_code == 429
    assert works(client, state, b, uin)  # program-b: its own bucket
    assert history(client, state, a, uin) == 200  # the resident at program-a: its own too
