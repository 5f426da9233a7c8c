"""Field-level encryption of contact data: the keyring, AES-GCM for the values, a keyed hash (blind index) for
exact-match lookups, and what key rotation needs.

A value is stored as `enc1:<key id>:<kind>:<base64url(nonce | ciphertext | tag)>`, sealed with AES-256-GCM
under the key named by its id, with its kind (name, email, phone, text) as associated data: a value changed by
one bit, or passed off as another kind, fails to open with a message saying so. Each value has a fresh random
96-bit nonce, so equal values are stored differently; exact-match lookups use the blind index instead.
Sealed values may also sit inside a JSON document (an audit record's before and after): `open_text` opens
them wherever they are.

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
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import polars as pl
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


KINDS = ("name", "email", "phone", "text")  # what a sealed value is: its associated data
TOKEN = re.compile(PREFIX + r":([A-Za-z0-9_-]{1,32}):(name|email|phone|text):([A-Za-z0-9_-]+=*)")


def is_sealed(value: object) -> bool:
    return isinstance(value, str) and value.startswith(PREFIX + ":")


def _parts(token: str) -> tuple[str, str, str]:
    match = TOKEN.fullmatch(token)
    if match is None:
        raise CryptoError("This is not a sealed value (it does not read 'enc1:<key>:<kind>:<data>').")
    return match.group(1), match.group(2), match.group(3)


def key_id(token: str) -> str:
    """The id of the key a sealed value was sealed with."""
    return _parts(token)[0]


@lru_cache(maxsize=64)
def _aead(key: bytes) -> AESGCM:
    return AESGCM(key)


def seal(keyring: Keyring, value: str | None, kind: str) -> str | None:
    """The value sealed as `kind` (name, email, phone or text) under the current key; None stays None. The kind
    is authenticated with it: a value cannot be passed off as another kind."""
    if value is None:
        return None
    if kind not in KINDS:
        raise ValueError(f"unknown kind {kind!r}; one of {', '.join(KINDS)}")
    nonce = os.urandom(NONCE_BYTES)
    body = _aead(keyring.keys[keyring.current]).encrypt(nonce, value.encode(), kind.encode())
    return f"{PREFIX}:{keyring.current}:{kind}:{base64.urlsafe_b64encode(nonce + body).decode()}"


def open_(keyring: Keyring, token: str | None, kind: str | None = None) -> str | None:
    """The plaintext of a sealed value; None stays None. `kind`, when given, must be the kind it was sealed as.
    CryptoError when the key is missing, the value was altered, or it is of another kind."""
    if token is None:
        return None
    kid, sealed_kind, data = _parts(token)
    if kind is not None and sealed_kind != kind:
        raise CryptoError(f"A value sealed as {sealed_kind} was found where {kind} belongs: it was copied from "
                          "another column.")
    key = keyring.keys.get(kid)
    if key is None:
        raise CryptoError(f"A value was sealed with key {kid!r}, which is not in the keyring: add it back to "
                          f"{KEYS_ENV} (after the current key) until the rotation has re-sealed it.")
    try:
        raw = base64.urlsafe_b64decode(data)
        return _aead(key).decrypt(raw[:NONCE_BYTES], raw[NONCE_BYTES:], sealed_kind.encode()).decode()
    except (InvalidTag, binascii.Error, ValueError):
        raise CryptoError(f"A sealed {sealed_kind} fails its authentication check: it was changed, or the keyring is "
                          f"not the one it was sealed with (key {kid!r} of another store?).") from None


def open_text(keyring: Keyring, text: str | None) -> str | None:
    """`text` with every sealed value inside it opened (a JSON document holding some, or one whole value)."""
    if text is None or PREFIX not in text:
        return text
    return TOKEN.sub(lambda m: _json_safe(open_(keyring, m.group(0)), text, m.start()), text)


def _json_safe(plain: str | None, text: str, at: int) -> str:
    """Inside a JSON string a value needs its quotes and backslashes escaped; as the whole text it does not."""
    plain = plain or ""
    if at > 0 and text[at - 1] == '"':
        return json.dumps(plain)[1:-1]
    return plain


def reseal(keyring: Keyring, token: str | None, kind: str | None = None) -> str | None:
    """A value re-sealed under the current key (rotation); unchanged when it already is."""
    if token is None or key_id(token) == keyring.current:
        return token
    return seal(keyring, open_(keyring, token, kind), _parts(token)[1])


def reseal_text(keyring: Keyring, text: str | None) -> str | None:
    """`text` with every sealed value inside it re-sealed under the current key."""
    if text is None or PREFIX not in text:
        return text
    return TOKEN.sub(lambda m: reseal(keyring, m.group(0)) or "", text)


NORMALISE = {"email": lambda v: v.strip().lower(), "phone": lambda v: re.sub(r"\D", "", v),
             "name": lambda v: " ".join(v.lower().split())}


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


def for_store(store_path: Path | str) -> Keyring:
    """The keyring of the store at `store_path` (loaded once per process and settings)."""
    env = os.environ
    secrets_stamp = SECRETS.stat().st_mtime_ns if SECRETS.exists() else 0
    return _cached(str(Path(store_path).resolve()), env.get(KEYS_ENV), env.get(INDEX_ENV), secrets_stamp)


@lru_cache(maxsize=16)
def _cached(path: str, keys: str | None, index: str | None, secrets_stamp: int) -> Keyring:
    return load(Path(path))


def for_connection(con: Any) -> Keyring:
    """The keyring of the store a DuckDB connection has open."""
    ((path,),) = con.execute("SELECT path FROM duckdb_databases() WHERE database_name = current_database()").fetchall()
    if not path:
        raise CryptoError("An in-memory database has no keyring: seal values in a connection to the store.")
    return for_store(path)


def open_frame(frame: pl.DataFrame, keyring: Callable[[], Keyring]) -> pl.DataFrame:
    """`frame` with every sealed value in its text columns opened (whole values and values inside JSON text);
    the keyring is loaded only when a sealed value is there."""
    sealed = [c for c, t in frame.schema.items() if t == pl.String and frame[c].str.contains(PREFIX + ":", literal=True).any()]
    if not sealed:
        return frame
    ring = keyring()
    return frame.with_columns(pl.Series(c, [open_text(ring, v) for v in frame[c].to_list()], pl.String)
                              for c in sealed)
