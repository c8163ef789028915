"""The signing ring in a running server: rotation with tokens in flight, automatic rotation,
pruning, a ring changed by another process; and the hypothesis round trip."""

from __future__ import annotations

import dataclasses

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from authd.http.state import AppState, open_state
from authd.registry.clients import Client
from authd.registry.identities import get_by_uin
from authd.tokens import rotation
from authd.tokens.issuance import acr_value, issue_token, verify_for
from keys import JwksKeys, verify_jwt
from tests.helpers import enroll_named, introspect, mint, parts, rp_key


def jwks_kids(client) -> list[str]:
    return [k["kid"] for k in client.get("/.well-known/jwks.json").json()["keys"]]


def test_tokens_in_flight_survive_a_rotation_until_they_expire(client, state, clock):
    uin = enroll_named(client, state)
    key = rp_key(state, "program-a")
    old_kid = state.keyring.active.kid
    before = mint(state, key, uin)
    state.keyring.rotate(clock.now())
    after = mint(state, key, uin)
    assert parts(after.token)[0]["kid"] != old_kid == parts(before.token)[0]["kid"]
    jwks = JwksKeys.from_json(client.get("/.well-known/jwks.json").json())
    for token in (before.token, after.token):
        assert introspect(client, key, token)["active"] is True
        verify_jwt(token, keys=jwks, audience="program-a", issuer=state.settings.issuer,
                   now=clock.now())
    clock.offset += 301
    assert introspect(client, key, before.token) == {"active": False}
    assert old_kid in jwks_kids(client)  # still published: a verifier's leeway may need it


def test_retired_key_leaves_jwks_after_its_tokens_expired_and_is_pruned(client, state, clock):
    old_kid = state.keyring.active.kid
    retired_at = clock.now()
    state.keyring.rotate(retired_at)
    lifetime = rotation.max_token_lifetime(state.settings)
    clock.offset += lifetime
    assert old_kid in jwks_kids(client)
    state.signing.upkeep(clock.now())
    assert old_kid in [k.kid for k in state.keyring.keys]
    clock.offset += 1
    assert old_kid not in jwks_kids(client)
    state.signing.upkeep(clock.now())
    assert old_kid not in [k.kid for k in state.keyring.keys]
    assert not (state.settings.data_dir / "signing-keys" / f"signing-{old_kid}.key").exists()


def test_rotation_is_automatic_after_the_period(client, state, clock):
    uin = enroll_named(client, state)
    first = state.keyring.active.kid
    clock.offset += state.settings.key_rotation_days * 86400 - 1
    key = rp_key(state, "program-a")  # API keys live 30 days in the fixtures
    assert parts(mint(state, key, uin).token)[0]["kid"] == first
    clock.offset += 1
    token = mint(state, key, uin).token
    assert parts(token)[0]["kid"] != first == state.keyring.keys[1].kid
    assert introspect(client, key, token)["active"] is True
    state.signing.upkeep(clock.now())  # the timer finds nothing more to do
    assert len(state.keyring.keys) == 2


def test_upkeep_timer_rotates_a_server_that_issues_nothing(client, state, clock):
    first = state.keyring.active.kid
    clock.offset += state.settings.key_rotation_days * 86400
    state.signing.upkeep(clock.now())
    assert state.keyring.active.kid != first


def test_a_ring_rotated_by_another_process_is_followed(client, state, clock):
    uin = enroll_named(client, state)
    key = rp_key(state, "program-a")
    other = open_state(state.settings, clock)  # another worker sharing data dir and database
    try:
        kid = other.keyring.rotate(clock.now()).kid
        token = mint(other, key, uin).token
        assert parts(token)[0]["kid"] == kid
        assert introspect(client, key, token)["active"] is True  # unknown kid → re-read
        assert jwks_kids(client)[0] == kid
        assert parts(mint(state, key, uin).token)[0]["kid"] == kid  # signs with the new key
    finally:
        other.close()


RP_ID = r"[a-z0-9][a-z0-9_.-]{1,20}"
_ENROLLED: dict[int, tuple[AppState, str]] = {}  # id(state) -> (state, an enrolled UIN)
AMR = st.lists(st.sampled_from(["otp", "face"]), min_size=1, max_size=2, unique=True)
TEXT = st.text(st.characters(codec="utf-8", exclude_categories=["Cs"]), min_size=1,
               max_size=64)


@settings(max_examples=40, deadline=None, suppress_health_check=[
    HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(amr=AMR, acr=st.integers(1, 3), txn=TEXT, ttl=st.integers(30, 3600),
       uin_in_token=st.booleans(), rp_id=st.from_regex(RP_ID, fullmatch=True),
       skew=st.integers(-10_000, 10_000))
def test_any_valid_claim_set_round_trips(client, state, amr, acr, txn, ttl, uin_in_token,
                                         rp_id, skew):
    memo = _ENROLLED.get(id(state))
    if memo is None or memo[0] is not state:  # one identity per state, for every example
        memo = _ENROLLED[id(state)] = (state, enroll_named(client, state))
    uin = memo[1]
    rp = Client(rp_id=rp_id, rp_name="x", key_id="k", scopes=frozenset({"auth"}),
                allowed_factors=("otp", "face"), min_acr=1, token_ttl_seconds=ttl,
                uin_in_token=uin_in_token)
    now = state.clock.now() + skew
    with state.db() as session:
        identity = get_by_uin(session, uin)
        issued = issue_token(state.tokens, session, rp, identity, amr=amr, acr=acr, txn=txn, now=now)
        session.rollback()
    claims = verify_for(state.tokens, issued.token, rp_id, now)
    jwks = JwksKeys.from_json(state.keyring.jwks(now, rotation.max_token_lifetime(state.settings)))
    assert claims == verify_jwt(issued.token, keys=jwks, audience=rp_id,
                                issuer=state.settings.issuer, now=now)
    assert (claims["amr"], claims["acr"], claims["txn"]) == (amr, acr_value(acr), txn)
    assert claims["exp"] == now + ttl == issued.expires_at and claims["nbf"] == now
    assert ("uin" in claims) is uin_in_token and claims["aud"] == rp_id
    assert dataclasses.asdict(issued)["jti"] == claims["jti"]
