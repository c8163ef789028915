"""keys.sealing: AES-256-GCM template sealing, key ring order, persisted store."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from keys import KeyFileError, Sealer, SealError, SealingKeyStore, generate_master_key

K1, K2 = (b"\x11" * 32), (b"\x22" * 32)


@given(plaintext=st.binary(max_size=2048), aad=st.binary(max_size=64))
def test_seal_open_round_trip(plaintext: bytes, aad: bytes) -> None:
    sealer = Sealer([("k1", K1)])
    blob = sealer.seal(plaintext, aad)
    assert sealer.open(blob, aad) == plaintext
    assert sealer.key_id_of(blob) == "k1"


def test_blob_layout() -> None:
    blob = Sealer([("k1", K1)]).seal(b"template", b"row-1")
    assert blob[:4] == b"\x01\x02k1"
    assert len(blob) == 4 + 12 + len(b"template") + 16


def test_template_moved_to_another_identity_fails() -> None:
    sealer = Sealer([("k1", K1)])
    blob = sealer.seal(b"template of alice", b"identity:1001")
    with pytest.raises(SealError) as err:
        sealer.open(blob, b"identity:1002")
    assert err.value.code == "template_unreadable"
    assert "alice" not in str(err.value)


def test_every_tampered_byte_fails() -> None:
    sealer = Sealer([("k1", K1)])
    blob = sealer.seal(b"template", b"row")
    for i in range(len(blob)):
        tampered = bytearray(blob)
        tampered[i] ^= 0x80
        with pytest.raises(SealError):
            sealer.open(bytes(tampered), b"row")


@pytest.mark.parametrize("blob", [b"", b"\x01", b"\x02\x02k1" + b"\x00" * 40, b"\x01\x02k1short"])
def test_malformed_blobs_fail(blob: bytes) -> None:
    with pytest.raises(SealError):
        Sealer([("k1", K1)]).open(blob, b"row")


def test_unknown_key_id_fails() -> None:
    blob = Sealer([("k1", K1)]).seal(b"t", b"row")
    with pytest.raises(SealError):
        Sealer([("k2", K2)]).open(blob, b"row")


def test_rotation_opens_old_blobs_and_flags_reseal() -> None:
    old = Sealer([("k1", K1)])
    blob = old.seal(b"template", b"row")
    rotated = Sealer([("k2", K2), ("k1", K1)])
    assert rotated.open(blob, b"row") == b"template"
    assert rotated.needs_reseal(blob)
    fresh = rotated.seal(b"template", b"row")
    assert rotated.key_id_of(fresh) == "k2" and not rotated.needs_reseal(fresh)


def test_repr_shows_key_ids_only() -> None:
    text = repr(Sealer([("k1", K1), ("k2", K2)]))
    assert "k1" in text and "k2" in text
    assert "\\x11" not in text and K1.hex() not in text


@pytest.mark.parametrize(
    "keys", [[], [("k1", b"short")], [("", K1)], [("a/b", K1)], [("k1", K1), ("k1", K2)]]
)
def test_bad_key_configuration_is_refused(keys: list[tuple[str, bytes]]) -> None:
    with pytest.raises(ValueError):
        Sealer(keys)


def test_store_persists_and_rotates(tmp_path: Path, master_key: bytes) -> None:
    store = SealingKeyStore(tmp_path / "sealing", master_key)
    first = store.load_or_create()
    blob = first.seal(b"template", b"row")
    again = SealingKeyStore(tmp_path / "sealing", master_key).load_or_create()
    assert again.key_ids == first.key_ids and again.open(blob, b"row") == b"template"
    rotated = store.rotate()
    assert rotated.key_ids[1:] == first.key_ids and rotated.needs_reseal(blob)
    reloaded = SealingKeyStore(tmp_path / "sealing", master_key).load_or_create()
    assert reloaded.key_ids == rotated.key_ids
    assert reloaded.open(blob, b"row") == b"template"


def test_store_key_files_are_0600_and_encrypted(tmp_path: Path, master_key: bytes) -> None:
    directory = tmp_path / "sealing"
    sealer = SealingKeyStore(directory, master_key).load_or_create()
    files = sorted(directory.glob("sealing-*.key"))
    assert len(files) == 1
    assert stat.S_IMODE(os.stat(files[0]).st_mode) == 0o600
    # The file cannot contain the key in the clear: a Sealer built from any 32-byte window
    # of it does not open what the real key sealed.
    blob = sealer.seal(b"t", b"row")
    data = files[0].read_bytes()
    for i in range(len(data) - 31):
        with pytest.raises(SealError):
            Sealer([(sealer.active_key_id, data[i : i + 32])]).open(blob, b"row")


def test_store_with_wrong_master_key_fails(tmp_path: Path, master_key: bytes) -> None:
    SealingKeyStore(tmp_path, master_key).load_or_create()
    with pytest.raises(KeyFileError):
        SealingKeyStore(tmp_path, generate_master_key()).load_or_create()


def test_store_rejects_corrupt_index(tmp_path: Path, master_key: bytes) -> None:
    SealingKeyStore(tmp_path, master_key).load_or_create()
    (tmp_path / SealingKeyStore.INDEX).write_text('{"order": ["../../etc/passwd"]}')
    with pytest.raises(KeyFileError):
        SealingKeyStore(tmp_path, master_key).load_or_create()
