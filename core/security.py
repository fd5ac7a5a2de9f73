"""Pseudonyms and field encryption for personal data, applied on the way into the store.

* ``Pseudonymiser``: keyed HMAC-SHA256. Member identities become stable pseudonyms
  (``member_key``); phones, bank accounts and legal representatives also get a
  *fingerprint* so equal values can be matched (related bidders) without storing them.
* ``FieldCipher``: AES-256-GCM with a key id in every ciphertext, so keys can rotate while
  old rows stay readable. Layout: ``b"L1" | len(kid) (1 byte) | kid | nonce (12) | ct+tag``.
  The column name is bound as associated data: a ciphertext moved to another column
  does not decrypt.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
import unicodedata

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from core.settings import Keyring

_MAGIC = b"L1"
_NONCE_BYTES = 12


class DecryptionError(ValueError):
    """A ciphertext is malformed, was made with an unknown key, or was tampered with."""


def normalise_identifier(value: str) -> str:
    """NFKC, trimmed, lower-case, inner whitespace and dashes removed (phones, accounts)."""
    text = unicodedata.normalize("NFKC", value).strip().lower()
    return re.sub(r"[\s\-]+", "", text)


class Pseudonymiser:
    """Keyed, namespaced HMAC-SHA256, truncated to 128 bits (32 hex characters)."""

    def __init__(self, key: bytes) -> None:
        if len(key) < 16:
            raise ValueError("pseudonym key must be at least 16 bytes")
        self._key = key
        self._cache: dict[tuple[str, str], str] = {}

    def pseudonym(self, namespace: str, value: str) -> str:
        """Stable pseudonym of ``value`` within ``namespace`` (``member``, ``phone``...)."""
        cache_key = (namespace, value)
        cached = self._cache.get(cache_key)
        if cached is not None:
            return cached
        message = f"{namespace}\x1f{value}".encode()
        digest = hmac.new(self._key, message, hashlib.sha256).hexdigest()[:32]
        if len(self._cache) < 1_000_000:
            self._cache[cache_key] = digest
        return digest

    def fingerprint(self, namespace: str, value: str | None) -> str | None:
        """Pseudonym of the normalised value; ``None`` for missing or blank input."""
        if value is None:
            return None
        normalised = normalise_identifier(value)
        return self.pseudonym(namespace, normalised) if normalised else None


class FieldCipher:
    """AES-256-GCM for single text fields, keyed by id for rotation."""

    def __init__(self, keys: dict[str, bytes], active_key_id: str) -> None:
        if active_key_id not in keys:
            raise ValueError(f"active key id {active_key_id!r} is not among the keys")
        for kid, key in keys.items():
            if len(key) != 32:
                raise ValueError(f"field key {kid!r} must be 32 bytes, got {len(key)}")
            if not 0 < len(kid.encode()) < 256:
                raise ValueError("key ids must be 1-255 bytes")
        self._aead = {kid: AESGCM(key) for kid, key in keys.items()}
        self.active_key_id = active_key_id

    def encrypt(self, value: str | None, *, column: str) -> bytes | None:
        if value is None:
            return None
        kid = self.active_key_id.encode()
        nonce = os.urandom(_NONCE_BYTES)
        sealed = self._aead[self.active_key_id].encrypt(nonce, value.encode(), column.encode())
        return _MAGIC + bytes([len(kid)]) + kid + nonce + sealed

    def decrypt(self, token: bytes | None, *, column: str) -> str | None:
        if token is None:
            return None
        token = bytes(token)
        if not token.startswith(_MAGIC) or len(token) < 4:
            raise DecryptionError("not a Lodestar field ciphertext")
        kid_len = token[2]
        kid = token[3 : 3 + kid_len].decode()
        body = token[3 + kid_len :]
        aead = self._aead.get(kid)
        if aead is None:
            raise DecryptionError(f"unknown field key id {kid!r}")
        try:
            plain = aead.decrypt(body[:_NONCE_BYTES], body[_NONCE_BYTES:], column.encode())
        except Exception as error:
            raise DecryptionError("ciphertext failed authentication") from error
        return plain.decode()

    @staticmethod
    def key_id_of(token: bytes) -> str:
        token = bytes(token)
        return token[3 : 3 + token[2]].decode()


class PersonalData:
    """The pseudonymiser and cipher built from one keyring, handed to readers."""

    def __init__(self, keyring: Keyring) -> None:
        self.pseudonymiser = Pseudonymiser(keyring.pseudonym_key)
        self.cipher = FieldCipher(keyring.field_keys, keyring.active_field_key_id)

    def member_key(self, employee_no: str) -> str:
        """Pseudonym of a member's employee number (the xAPI account name)."""
        return self.pseudonymiser.pseudonym("member", employee_no.strip())
