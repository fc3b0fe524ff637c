"""Paging and the sort order every list endpoint shares."""

from __future__ import annotations

import pytest
from sqlalchemy import create_engine, select
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column

from framedex.domain_errors import InvalidParameter
from framedex.services.paging import PageRequest, order_by_field, paginate


class _Base(DeclarativeBase):
    pass


class _Row(_Base):
    __tablename__ = "rows"
    id: Mapped[str] = mapped_column(primary_key=True)
    created_at: Mapped[int]
    name: Mapped[str]


FIELDS = ("created_at", "name")


@pytest.fixture
def session() -> Session:
    engine = create_engine("sqlite://")
    _Base.metadata.create_all(engine)
    s = Session(engine)
    s.add_all([_Row(id="a", created_at=2, name="zebra"), _Row(id="b", created_at=1, name="apple"),
               _Row(id="c", created_at=2, name="mango")])
    s.commit()
    return s


def _ids(session: Session, sort_by: str | None, sort_option: str | None) -> list[str]:
    query = order_by_field(select(_Row), _Row, sort_by, sort_option, fields=FIELDS, fields_hint="Use one.")
    return [r.id for r in paginate(session, query, PageRequest(page_limit=10)).items]


def test_newest_first_by_default_with_ties_in_id_order(session: Session) -> None:
    assert _ids(session, None, None) == ["a", "c", "b"]
    assert _ids(session, "created_at", "asc") == ["b", "a", "c"]
    assert _ids(session, "name", "asc") == ["b", "c", "a"]


@pytest.mark.parametrize(("sort_by", "sort_option", "parameter"),
                         [("updated_at", None, "sort_by"), ("name", "up", "sort_option")])
def test_an_unknown_field_or_direction_names_its_parameter(session: Session, sort_by: str, sort_option: str | None,
                                                           parameter: str) -> None:
    with pytest.raises(InvalidParameter) as caught:
        _ids(session, sort_by, sort_option)
    assert caught.value.parameter == parameter
