"""Pseudonyms and field encryption: stable, keyed, rotatable, tamper-evident."""

from __future__ import annotations

import os

import pytest

from features.security import DecryptionError, FieldCipher, Pseudonymiser, normalise_identifier


def test_pseudonym_is_stable_keyed_and_namespaced() -> None:
    first, second = Pseudonymiser(b"a" * 32), Pseudonymiser(b"b" * 32)
    assert first.pseudonym("member", "E100001") == first.pseudonym("member", "E100001")
    assert first.pseudonym("member", "E100001") != second.pseudonym("member", "E100001")
    assert first.pseudonym("member", "E100001") != first.pseudonym("phone", "E100001")
    assert len(first.pseudonym("member", "E100001")) == 32


def test_fingerprint_matches_equal_values_written_differently() -> None:
    pseudonymiser = Pseudonymiser(os.urandom(32))
    assert pseudonymiser.fingerprint("phone", "138-0013 8000") == pseudonymiser.fingerprint(
        "phone", "13800138000"
    )
    assert pseudonymiser.fingerprint("phone", "  ") is None
    assert normalise_identifier(" ＡＢ-12 ") == "ab12"  # full-width folded by NFKC


def test_short_pseudonym_key_is_refused() -> None:
    with pytest.raises(ValueError, match="at least 16 bytes"):
        Pseudonymiser(b"short")


def test_field_cipher_round_trip_and_no_plaintext() -> None:
    cipher = FieldCipher({"k1": os.urandom(32)}, "k1")
    token = cipher.encrypt("张三 13800138000", column="name_enc")
    assert token is not None
    assert "张三".encode() not in token
    assert b"13800138000" not in token
    assert cipher.decrypt(token, column="name_enc") == "张三 13800138000"
    assert cipher.encrypt(None, column="name_enc") is None
    # the same plaintext encrypts differently each time (random nonce)
    assert cipher.encrypt("x", column="c") != cipher.encrypt("x", column="c")


def test_ciphertext_is_bound_to_its_column_and_detects_tampering() -> None:
    cipher = FieldCipher({"k1": os.urandom(32)}, "k1")
    token = cipher.encrypt("13800138000", column="phone_enc")
    assert token is not None
    with pytest.raises(DecryptionError):
        cipher.decrypt(token, column="name_enc")
    tampered = token[:-1] + bytes([token[-1] ^ 1])
    with pytest.raises(DecryptionError):
        cipher.decrypt(tampered, column="phone_enc")


def test_rotation_keeps_old_ciphertext_readable() -> None:
    old_key, new_key = os.urandom(32), os.urandom(32)
    old = FieldCipher({"k1": old_key}, "k1")
    token = old.encrypt("李四", column="name_enc")
    assert token is not None
    rotated = FieldCipher({"k1": old_key, "k2": new_key}, "k2")
    assert rotated.decrypt(token, column="name_enc") == "李四"
    fresh = rotated.encrypt("李四", column="name_enc")
    assert fresh is not None
    assert FieldCipher.key_id_of(fresh) == "k2"
    with pytest.raises(DecryptionError, match="unknown field key"):
        FieldCipher({"k2": new_key}, "k2").decrypt(token, column="name_enc")
