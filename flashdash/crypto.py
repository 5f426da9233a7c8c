"""Field-level encryption of contact data: the keyring, AES-GCM for the values, a keyed hash (blind index) for
exact-match lookups, and what key rotation needs.

A value is stored as `enc1:<key id>:<base64url(nonce | ciphertext | tag)>`, sealed with AES-256-GCM under the
key named by its id, with the column it belongs to (`leads.email`) as associated data: a value copied into
another column, or changed by one bit, fails to decrypt with a message saying so. Each value has a fresh
random 96-bit nonce.

Keys. `FLASHDASH_ENCRYPTION_KEYS` (or `keys` in the `[encryption]` table of .streamlit/secrets.toml) lists
`id:base64 key` pairs, the first being the one new values are sealed with and the others older keys still
read (rotation: put a new key first, run the rotation, then drop the old one). The blind index has its own
key (`FLASHDASH_BLIND_INDEX_KEY`, or `index_key` in `[encryption]`), kept across data-key rotations so that
lookups keep working. Without either, a keyring is generated once into a file beside the store (0600), as
the cookie key is: convenient for a demo, but the keys must then be kept out of the store's backups.

A blind index is HMAC-SHA256 of the normalised value (an email trimmed and lower-cased, a phone's digits),
under the index key, with the kind of value mixed in: equal inputs give equal indexes, so duplicate detection
and search by email work on the index alone, and nobody without the key can test a guess.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import os
import re
import secrets
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

PREFIX = "enc1"
KEY_BYTES = 32
NONCE_BYTES = 12
KEYS_ENV = "FLASHDASH_ENCRYPTION_KEYS"
INDEX_ENV = "FLASHDASH_BLIND_INDEX_KEY"
SECRETS = Path(".streamlit/secrets.toml")
KEY_ID = re.compile(r"^[A-Za-z0-9_-]{1,32}$")
INDEX_CHARS = 32  # 128 bits of the HMAC, hex: plenty to tell a million addresses apart


class CryptoError(ValueError):
    """A key or a sealed value that cannot be used; the message says which and how to fix it."""


@dataclass(frozen=True)
class Keyring:
    """The data keys by id (`current` seals new values) and the blind index key."""

    keys: Mapping[str, bytes] = field(repr=False)
    current: str
    index_key: bytes = field(repr=False)

    def __post_init__(self) -> None:
        if self.current not in self.keys:
            raise CryptoError(f"The current key {self.current!r} is not in the keyring.")
        for key_id, key in self.keys.items():
            if not KEY_ID.match(key_id):
                raise CryptoError(f"Key id {key_id!r}: use 1-32 letters, digits, '-' or '_'.")
            if len(key) != KEY_BYTES:
                raise CryptoError(f"Key {key_id!r} is {len(key)} bytes; AES-256 needs {KEY_BYTES}. Make one with "
                                  "`python -c \"import base64, os; print(base64.b64encode(os.urandom(32)).decode())\"`.")
        if len(self.index_key) < KEY_BYTES:
            raise CryptoError(f"The blind index key is {len(self.index_key)} bytes; give at least {KEY_BYTES}.")


def new_key() -> str:
    """A fresh random key, base64 (what goes after `id:` in the settings)."""
    return base64.b64encode(os.urandom(KEY_BYTES)).decode()


def _key(text: str, what: str) -> bytes:
    try:
        return base64.b64decode(text.strip(), validate=True)
    except (binascii.Error, ValueError):
        raise CryptoError(f"{what} is not base64; give the key as printed by new_key().") from None


def parse_keys(spec: str | list[str]) -> tuple[dict[str, bytes], str]:
    """`id:base64, id:base64` (or a list of them), newest first, as ({id: key}, current id)."""
    items = [s.strip() for s in (spec.split(",") if isinstance(spec, str) else spec) if s and s.strip()]
    if not items:
        raise CryptoError(f"No encryption key is given: set {KEYS_ENV} to 'k1:<base64 key>'.")
    keys: dict[str, bytes] = {}
    for item in items:
        key_id, sep, text = item.partition(":")
        if not sep:
            raise CryptoError(f"{item[:8]}…: write each key as 'id:<base64 key>', e.g. 'k2:…'.")
        if key_id in keys:
            raise CryptoError(f"Key id {key_id!r} is given twice; each key needs its own id.")
        keys[key_id] = _key(text, f"Key {key_id!r}")
    return keys, items[0].partition(":")[0]


def _secrets_table(path: Path) -> dict:
    try:
        with path.open("rb") as f:
            return tomllib.load(f).get("encryption", {})
    except FileNotFoundError:
        return {}


def keyring_path(store_path: Path) -> Path:
    return store_path.with_name(store_path.name + ".keys")


def _generated(path: Path) -> dict:
    """The keyring file beside the store, made on first use (0600)."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        doc = {"keys": [f"k1:{new_key()}"], "index_key": base64.b64encode(secrets.token_bytes(KEY_BYTES)).decode()}
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            json.dump(doc, f)
    return json.loads(path.read_text())


def load(store_path: Path, secrets_path: Path | None = None, environ: Mapping[str, str] | None = None) -> Keyring:
    """The keyring: the environment, else the secrets file, else the generated file beside the store."""
    env = os.environ if environ is None else environ
    table = _secrets_table(secrets_path or SECRETS)
    spec = env.get(KEYS_ENV) or table.get("keys")
    index = env.get(INDEX_ENV) or table.get("index_key")
    if not spec or not index:
        if spec or index:
            raise CryptoError(f"Set both {KEYS_ENV} and {INDEX_ENV} (or both `keys` and `index_key` under "
                              "[encryption] in the secrets), or neither.")
        generated = _generated(keyring_path(store_path))
        spec, index = generated["keys"], generated["index_key"]
    keys, current = parse_keys(spec)
    return Keyring(keys, current, _key(index, "The blind index key"))


def is_sealed(value: object) -> bool:
    return isinstance(value, str) and value.startswith(PREFIX + ":")


def key_id(token: str) -> str:
    """The id of the key a sealed value was sealed with."""
    parts = token.split(":", 2)
    if len(parts) != 3 or parts[0] != PREFIX:
        raise CryptoError("This is not a sealed value (it does not start with 'enc1:').")
    return parts[1]


def seal(keyring: Keyring, value: str | None, column: str) -> str | None:
    """The value sealed for `column` ('table.column') under the current key; None stays None."""
    if value is None:
        return None
    nonce = os.urandom(NONCE_BYTES)
    body = AESGCM(keyring.keys[keyring.current]).encrypt(nonce, value.encode(), column.encode())
    return f"{PREFIX}:{keyring.current}:{base64.urlsafe_b64encode(nonce + body).decode()}"


def open_(keyring: Keyring, token: str | None, column: str) -> str | None:
    """The plaintext of a value sealed for `column`; None stays None. CryptoError when the key is missing or the
    value was altered or belongs to another column."""
    if token is None:
        return None
    kid = key_id(token)
    key = keyring.keys.get(kid)
    if key is None:
        raise CryptoError(f"A value in {column} was sealed with key {kid!r}, which is not in the keyring: add it "
                          f"back to {KEYS_ENV} (after the current key) until the rotation has re-sealed it.")
    try:
        raw = base64.urlsafe_b64decode(token.split(":", 2)[2])
        return AESGCM(key).decrypt(raw[:NONCE_BYTES], raw[NONCE_BYTES:], column.encode()).decode()
    except (InvalidTag, binascii.Error, ValueError):
        raise CryptoError(f"A value in {column} fails its authentication check: it was changed, or copied from "
                          "another column.") from None


def reseal(keyring: Keyring, token: str | None, column: str) -> str | None:
    """A value re-sealed under the current key (rotation); unchanged when it already is."""
    if token is None or key_id(token) == keyring.current:
        return token
    return seal(keyring, open_(keyring, token, column), column)


NORMALISE = {"email": lambda v: v.strip().lower(), "phone": lambda v: re.sub(r"\D", "", v)}


def blind_index(keyring: Keyring, value: str | None, kind: str) -> str | None:
    """The keyed hash to look `value` up by (kind 'email' or 'phone'); None for no value or nothing left once
    normalised (a phone without digits)."""
    if value is None:
        return None
    normal = NORMALISE[kind](value)
    if not normal:
        return None
    digest = hmac.new(keyring.index_key, f"{kind}:{normal}".encode(), hashlib.sha256).hexdigest()
    return digest[:INDEX_CHARS]
