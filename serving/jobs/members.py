"""A member's own record, decrypted on the way out."""

from __future__ import annotations

from core.security import PersonalData
from serving.api.schemas.common import MemberRecord
from store.database import Store
from store.queries.members import member_row


def member_record(store: Store, personal: PersonalData, employee_no: str) -> MemberRecord | None:
    """The decrypted record of one member, or ``None`` if there is none. The caller holds the
    store lock."""
    row = member_row(store.connection, personal.member_key(employee_no))
    if row is None:
        return None
    cipher = personal.cipher
    return MemberRecord(
        employee_no=employee_no.strip(),
        name=cipher.decrypt(row["name_enc"], column="name_enc"),
        phone=cipher.decrypt(row["phone_enc"], column="phone_enc"),
        party_branch=cipher.decrypt(row["party_branch_enc"], column="party_branch_enc"),
        role=row["role"],
        unit=row["unit"],
        shift_pattern=row["shift_pattern"],
        crew=row["crew"],
        joined_on=row["joined_on"],
    )
