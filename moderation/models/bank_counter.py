"""Counters of the banks feature (`change`, `entry`): a row each, bumped with UPDATE ... RETURNING."""

from __future__ import annotations

from sqlalchemy import BigInteger, String
from sqlalchemy.orm import Mapped, mapped_column

from moderation.models.base import Base


class BankCounter(Base):
    __tablename__ = "bank_counters"

    name: Mapped[str] = mapped_column(String(20), primary_key=True)
    value: Mapped[int] = mapped_column(BigInteger, default=0)
