"""Field encryption primitives: sealing binds a value to its column and key, tampering and missing keys are
named, rotation re-seals under the new key, blind indexes match equal values only under the same key."""

from __future__ import annotations

import base64
import json
import os
import stat
from pathlib import Path

import polars as pl
import pytest

from flashdash import crypto


def _ring(*ids: str, index: bytes = b"i" * 32) -> crypto.Keyring:
    keys = {i: bytes([n + 1]) * 32 for n, i in enumerate(ids)}
    return crypto.Keyring(keys, ids[0], index)


def test_a_sealed_value_opens_only_as_its_own_kind_and_never_repeats() -> None:
    ring = _ring("k1")
    a, b = crypto.seal(ring, "ana@example.com", "email"), crypto.seal(ring, "ana@example.com", "email")
    assert a != b and "ana" not in a and a.startswith("enc1:k1:email:")
    assert crypto.open_(ring, a, "email") == "ana@example.com" and crypto.open_(ring, a) == "ana@example.com"
    with pytest.raises(crypto.CryptoError, match="copied from another column"):
        crypto.open_(ring, a, "phone")
    assert crypto.seal(ring, None, "email") is None and crypto.open_(ring, None, "email") is None


def test_a_value_relabelled_as_another_kind_fails_the_authentication_check() -> None:
    ring = _ring("k1")
    token = crypto.seal(ring, "ana@example.com", "email")
    with pytest.raises(crypto.CryptoError, match="changed"):
        crypto.open_(ring, token.replace(":email:", ":phone:"))


def test_a_changed_byte_fails_the_authentication_check() -> None:
    ring = _ring("k1")
    token = crypto.seal(ring, "+1 555 0100", "phone")
    raw = bytearray(base64.urlsafe_b64decode(token.split(":", 3)[3]))
    raw[-1] ^= 1
    forged = "enc1:k1:phone:" + base64.urlsafe_b64encode(bytes(raw)).decode()
    with pytest.raises(crypto.CryptoError, match="changed"):
        crypto.open_(ring, forged, "phone")


def test_sealed_values_inside_json_open_in_place_and_keep_the_document_valid() -> None:
    ring = _ring("k1")
    doc = {"email": crypto.seal(ring, 'a"b@example.com', "email"), "n": 3, "name": crypto.seal(ring, "José", "name")}
    text = json.dumps(doc, sort_keys=True)
    opened = crypto.open_text(ring, text)
    assert json.loads(opened) == {"email": 'a"b@example.com', "n": 3, "name": "José"}
    assert opened == json.dumps({"email": 'a"b@example.com', "n": 3, "name": "José"}, sort_keys=True)
    assert crypto.open_text(ring, "no secrets here") == "no secrets here"


def test_a_frame_opens_only_the_columns_that_hold_sealed_values() -> None:
    ring = _ring("k1")
    frame = pl.DataFrame({"id": [1, 2], "email": [crypto.seal(ring, "a@x.io", "email"), None],
                          "note": ["plain", "text"]})
    calls = []

    def keyring() -> crypto.Keyring:
        calls.append(1)
        return ring

    opened = crypto.open_frame(frame, keyring)
    assert opened["email"].to_list() == ["a@x.io", None] and opened["note"].to_list() == ["plain", "text"]
    assert crypto.open_frame(frame.drop("email"), keyring).equals(frame.drop("email")) and len(calls) == 1


def test_rotation_reseals_old_values_under_the_new_key_and_a_dropped_key_is_named() -> None:
    old = _ring("k1")
    token = crypto.seal(old, "Ana Silva", "name")
    both = crypto.Keyring({"k2": b"\x09" * 32, "k1": old.keys["k1"]}, "k2", old.index_key)
    resealed = crypto.reseal(both, token, "name")
    assert crypto.key_id(resealed) == "k2" and crypto.open_(both, resealed, "name") == "Ana Silva"
    assert crypto.reseal(both, resealed, "name") == resealed  # already current: untouched
    doc = json.dumps({"contact_name": token})
    assert crypto.open_text(both, crypto.reseal_text(both, doc)) == json.dumps({"contact_name": "Ana Silva"})
    assert "enc1:k2:name:" in crypto.reseal_text(both, doc)
    new_only = crypto.Keyring({"k2": b"\x09" * 32}, "k2", old.index_key)
    with pytest.raises(crypto.CryptoError, match="key 'k1', which is not in the keyring"):
        crypto.open_(new_only, token, "name")


def test_blind_indexes_match_normalised_equals_and_depend_on_the_key() -> None:
    ring = _ring("k1")
    assert crypto.blind_index(ring, " Ana@Example.COM ", "email") == crypto.blind_index(ring, "ana@example.com", "email")
    assert crypto.blind_index(ring, "(555) 010-0", "phone") == crypto.blind_index(ring, "5550100", "phone")
    assert crypto.blind_index(ring, "ana@example.com", "email") != crypto.blind_index(ring, "ana@example.org", "email")
    assert crypto.blind_index(ring, "5550100", "email") != crypto.blind_index(ring, "5550100", "phone")
    other = _ring("k1", index=b"j" * 32)
    assert crypto.blind_index(other, "ana@example.com", "email") != crypto.blind_index(ring, "ana@example.com", "email")
    assert crypto.blind_index(ring, None, "email") is None and crypto.blind_index(ring, "n/a", "phone") is None


def test_keys_come_from_the_environment_newest_first_and_bad_ones_are_named(tmp_path: Path) -> None:
    k1, k2, idx = crypto.new_key(), crypto.new_key(), crypto.new_key()
    env = {crypto.KEYS_ENV: f"k2:{k2}, k1:{k1}", crypto.INDEX_ENV: idx}
    ring = crypto.load(tmp_path / "s.duckdb", tmp_path / "none.toml", env)
    assert ring.current == "k2" and set(ring.keys) == {"k1", "k2"}
    assert not crypto.keyring_path(tmp_path / "s.duckdb").exists()
    with pytest.raises(crypto.CryptoError, match="both"):
        crypto.load(tmp_path / "s.duckdb", tmp_path / "none.toml", {crypto.KEYS_ENV: f"k1:{k1}"})
    with pytest.raises(crypto.CryptoError, match="16 bytes"):
        crypto.load(tmp_path / "s.duckdb", tmp_path / "none.toml",
                    {crypto.KEYS_ENV: f"k1:{base64.b64encode(os.urandom(16)).decode()}", crypto.INDEX_ENV: idx})
    with pytest.raises(crypto.CryptoError, match="twice"):
        crypto.parse_keys(f"k1:{k1},k1:{k2}")
    with pytest.raises(crypto.CryptoError, match="not base64"):
        crypto.parse_keys("k1:not-base64!!")


def test_without_settings_a_keyring_is_generated_once_beside_the_store_readable_by_its_owner_only(
        tmp_path: Path) -> None:
    db = tmp_path / "s.duckdb"
    first = crypto.load(db, tmp_path / "none.toml", {})
    again = crypto.load(db, tmp_path / "none.toml", {})
    assert first == again and first.current == "k1"
    mode = stat.S_IMODE(crypto.keyring_path(db).stat().st_mode)
    assert mode == 0o600


def test_the_secrets_file_gives_the_keys_when_the_environment_does_not(tmp_path: Path) -> None:
    secrets_file = tmp_path / "secrets.toml"
    secrets_file.write_text(f'[encryption]\nkeys = ["k7:{crypto.new_key()}"]\nindex_key = "{crypto.new_key()}"\n')
    assert crypto.load(tmp_path / "s.duckdb", secrets_file, {}).current == "k7"
