"""The column classification: declared once, complete, and protecting every personal field."""

from __future__ import annotations

from store.schema import TABLES, unprotected_personal_columns


def test_no_personal_column_is_stored_in_plaintext() -> None:
    assert unprotected_personal_columns() == []


def test_encrypted_columns_are_blobs_named_enc() -> None:
    for table in TABLES.values():
        for column in table.columns:
            if column.protection == "encrypted":
                assert column.sql_type == "BLOB", f"{table.name}.{column.name}"
                assert column.name.endswith("_enc"), f"{table.name}.{column.name}"


def test_every_column_is_classified_and_keys_exist() -> None:
    for table in TABLES.values():
        names = table.column_names
        assert len(names) == len(set(names)), table.name
        assert set(table.key) <= set(names), table.name
        for column in table.columns:
            assert column.level in {"core", "important", "general"}
            assert column.personal in {"none", "personal", "sensitive"}


def test_party_membership_is_sensitive() -> None:
    members = TABLES["members"]
    assert members.column("party_member_enc").personal == "sensitive"
    assert members.column("party_branch_enc").personal == "sensitive"
