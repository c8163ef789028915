"""keys.ring: Ed25519 key ring persistence, rotation, pruning, JWKS."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat

from keys import KeyFileError, KeyRing, UnknownKey, generate_master_key, thumbprint

DAY = 86_400
NOW = 1_700_000_000  # the `now` fixture's value, which the `ring` fixture was made at


def _raw_private(ring: KeyRing) -> bytes:
    return ring.active.private_key.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())


def test_creates_one_active_key(ring: KeyRing, now: int) -> None:
    assert now == NOW
    assert len(ring.keys) == 1
    assert ring.active.info.created_at == NOW and ring.active.info.retired_at is None
    assert ring.active.kid == thumbprint(ring.active.public_key)


def test_reload_gives_same_keys(ring: KeyRing, ring_dir: Path, master_key: bytes) -> None:
    ring.rotate(NOW + 10)
    again = KeyRing.load_or_create(ring_dir, master_key, now=NOW + 20)
    assert [k.info for k in again.keys] == [k.info for k in ring.keys]
    assert _raw_private(again) == _raw_private(ring)


def test_key_files_are_0600_and_do_not_hold_raw_key(ring: KeyRing, ring_dir: Path) -> None:
    files = list(ring_dir.glob("signing-*.key"))
    assert len(files) == 1
    assert stat.S_IMODE(files[0].stat().st_mode) == 0o600
    assert _raw_private(ring) not in files[0].read_bytes()
    assert _raw_private(ring).hex() not in (ring_dir / "ring.json").read_text()


def test_wrong_master_key_fails(ring: KeyRing, ring_dir: Path) -> None:
    with pytest.raises(KeyFileError):
        KeyRing.load_or_create(ring_dir, generate_master_key(), now=NOW)


def test_swapped_key_file_is_detected(ring: KeyRing, ring_dir: Path, master_key: bytes) -> None:
    old_kid = ring.active.kid
    new_kid = ring.rotate(NOW + 1).kid
    a, b = ring_dir / f"signing-{old_kid}.key", ring_dir / f"signing-{new_kid}.key"
    data_a, data_b = a.read_bytes(), b.read_bytes()
    a.write_bytes(data_b)
    b.write_bytes(data_a)
    with pytest.raises(KeyFileError):
        KeyRing.load_or_create(ring_dir, master_key, now=NOW)


def test_rotate_retires_previous(ring: KeyRing, ring_dir: Path, master_key: bytes) -> None:
    first = ring.active.info
    new = ring.rotate(NOW + 100)
    assert ring.active.info == new and new.created_at == NOW + 100
    assert ring.keys[1].info == type(first)(first.kid, first.created_at, NOW + 100)
    meta = json.loads((ring_dir / "ring.json").read_text())
    assert [k["kid"] for k in meta["keys"]] == [new.kid, first.kid]
    assert meta["keys"][1]["retired_at"] == NOW + 100


def test_rotate_if_due(ring: KeyRing) -> None:
    assert ring.rotate_if_due(NOW + DAY - 1, period_seconds=DAY) is None
    info = ring.rotate_if_due(NOW + DAY, period_seconds=DAY)
    assert info is not None and ring.active.info == info
    assert ring.rotate_if_due(NOW + DAY + 1, period_seconds=DAY) is None


def test_prune_drops_only_keys_past_token_lifetime(
    ring: KeyRing, ring_dir: Path, master_key: bytes
) -> None:
    first = ring.active.kid
    ring.rotate(NOW + 100)
    assert ring.prune(NOW + 100 + 600, max_token_lifetime=600) == ()
    assert first in [k["kid"] for k in ring.jwks(NOW + 100 + 600, 600)["keys"]]
    pruned = ring.prune(NOW + 100 + 601, max_token_lifetime=600)
    assert [p.kid for p in pruned] == [first]
    assert ring.public_key(first) is None
    assert not (ring_dir / f"signing-{first}.key").exists()
    reloaded = KeyRing.load_or_create(ring_dir, master_key, now=NOW + 1000)
    assert [k.kid for k in reloaded.keys] == [ring.active.kid]


def test_jwks_is_public_only(ring: KeyRing) -> None:
    ring.rotate(NOW + 5)
    jwks = ring.jwks(NOW + 10, max_token_lifetime=600)
    kids = [ring.active.kid, ring.keys[1].kid]
    assert [(k["kid"], k["alg"]) for k in jwks["keys"]] == [
        (kids[0], "EdDSA"), (kids[0], "Ed25519"), (kids[1], "EdDSA"), (kids[1], "Ed25519")]
    for jwk in jwks["keys"]:
        assert set(jwk) == {"kty", "crv", "x", "kid", "use", "alg"}
        assert (jwk["kty"], jwk["crv"], jwk["use"]) == ("OKP", "Ed25519", "sig")
    late = ring.jwks(NOW + 10_000, max_token_lifetime=600)
    assert [k["kid"] for k in late["keys"]] == [ring.active.kid] * 2


def test_revoke_removes_a_retired_key_at_once(
    ring: KeyRing, ring_dir: Path, master_key: bytes
) -> None:
    other = KeyRing.load_or_create(ring_dir, master_key, now=NOW)
    first = ring.active.kid
    ring.rotate(NOW + 5)
    assert ring.revoke(first, NOW + 6).kid == first
    assert ring.public_key(first) is None and not (ring_dir / f"signing-{first}.key").exists()
    assert first not in {k["kid"] for k in ring.jwks(NOW + 6, 600)["keys"]}
    assert other.public_key(first) is not None  # until it re-reads ring.json
    other.reload()
    assert other.public_key(first) is None and other.active.kid == ring.active.kid


def test_revoke_of_the_active_key_makes_a_new_signer(ring: KeyRing) -> None:
    compromised = ring.active.kid
    ring.revoke(compromised, NOW + 5)
    assert [k.kid for k in ring.keys] == [ring.active.kid] != [compromised]
    assert ring.active.info.created_at == NOW + 5
    with pytest.raises(UnknownKey):
        ring.revoke(compromised, NOW + 6)


def test_repr_hides_private_key(ring: KeyRing) -> None:
    raw = _raw_private(ring)
    for text in (repr(ring), repr(ring.active), repr(ring.keys)):
        assert raw.hex() not in text and str(raw) not in text
    assert "private_key" not in repr(ring.active)


def test_two_handles_on_one_directory_stay_consistent(
    ring: KeyRing, ring_dir: Path, master_key: bytes
) -> None:
    """A replica's rotate_if_due sees another replica's rotation and does not rotate again."""
    other = KeyRing.load_or_create(ring_dir, master_key, now=NOW)
    rotated = ring.rotate_if_due(NOW + DAY, period_seconds=DAY)
    assert rotated is not None
    assert other.rotate_if_due(NOW + DAY + 5, period_seconds=DAY) is None
    assert other.active.info == rotated
    assert len(other.keys) == 2
    other.rotate(NOW + 2 * DAY)
    ring.reload()
    assert [k.info for k in ring.keys] == [k.info for k in other.keys]
    assert len(ring.keys) == 3
