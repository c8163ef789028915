"""keys.keyfile: encrypted secrets at rest, master key parsing."""

from __future__ import annotations

import base64
import stat
from pathlib import Path

import pytest

from keys import KeyFileError, generate_master_key, parse_master_key, read_secret, write_secret

LABEL = "authd-signing-key"


def test_round_trip_and_mode_0600(tmp_path: Path, master_key: bytes) -> None:
    path = tmp_path / "k.key"
    secret = bytes(range(32))
    write_secret(path, secret, master_key, LABEL)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert secret not in path.read_bytes()
    assert read_secret(path, master_key, LABEL) == secret


def test_overwrite_is_atomic_and_leaves_no_temp_files(tmp_path: Path, master_key: bytes) -> None:
    path = tmp_path / "k.key"
    write_secret(path, b"one", master_key, LABEL)
    write_secret(path, b"two", master_key, LABEL)
    assert read_secret(path, master_key, LABEL) == b"two"
    assert [p.name for p in tmp_path.iterdir()] == ["k.key"]


def test_wrong_master_key_fails(tmp_path: Path, master_key: bytes) -> None:
    path = tmp_path / "k.key"
    write_secret(path, b"secret", master_key, LABEL)
    with pytest.raises(KeyFileError) as err:
        read_secret(path, generate_master_key(), LABEL)
    assert err.value.code == "key_file_error" and err.value.status_code == 500


def test_wrong_label_fails(tmp_path: Path, master_key: bytes) -> None:
    path = tmp_path / "k.key"
    write_secret(path, b"secret", master_key, LABEL)
    with pytest.raises(KeyFileError):
        read_secret(path, master_key, "authd-sealing-key")


@pytest.mark.parametrize("position", [0, 5, 25, -1])
def test_tampered_file_fails(tmp_path: Path, master_key: bytes, position: int) -> None:
    path = tmp_path / "k.key"
    write_secret(path, b"secret-value", master_key, LABEL)
    data = bytearray(path.read_bytes())
    data[position] ^= 0x01
    path.write_bytes(bytes(data))
    with pytest.raises(KeyFileError) as err:
        read_secret(path, master_key, LABEL)
    assert "secret-value" not in str(err.value)


def test_missing_and_truncated_files_fail(tmp_path: Path, master_key: bytes) -> None:
    with pytest.raises(KeyFileError):
        read_secret(tmp_path / "absent.key", master_key, LABEL)
    (tmp_path / "short.key").write_bytes(b"AKF1")
    with pytest.raises(KeyFileError):
        read_secret(tmp_path / "short.key", master_key, LABEL)


def test_parse_master_key_accepts_hex_base64_and_base64url() -> None:
    key = bytes(range(200, 232))
    for text in (
        key.hex(),
        key.hex().upper(),
        base64.b64encode(key).decode(),
        base64.urlsafe_b64encode(key).decode().rstrip("="),
        f"  {base64.urlsafe_b64encode(key).decode()}\n",
    ):
        assert parse_master_key(text) == key


@pytest.mark.parametrize(
    "text", ["", "changeme", "00" * 31, "zz" * 32, base64.b64encode(b"x" * 31).decode()]
)
def test_parse_master_key_rejects_without_echo(text: str) -> None:
    with pytest.raises(ValueError) as err:
        parse_master_key(text)
    if text:
        assert text not in str(err.value)


def test_generate_master_key_is_random_32_bytes() -> None:
    a, b = generate_master_key(), generate_master_key()
    assert len(a) == 32 and a != b
