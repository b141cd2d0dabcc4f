"""The registry of log entry kinds (voting/entry_kinds.py) says what the verifier checks
(audit/envelope.py BODY_SHAPES): the same kinds, the same body members, the same optional
ones, compatible types. audit/ imports nothing from voting/: this test reads both."""

from __future__ import annotations

import dataclasses
import types
import typing
from typing import Any

import pytest

from audit.envelope import BODY_SHAPES, check_body
from voting.entry_kinds import (
    ENTRY_KINDS,
    PHASE_CHANGE_KINDS,
    Definition,
    EntryBody,
    Qualification,
    Support,
    UnknownEntryKind,
    kind_of,
)

STRINGS = {"str", "uuid", "hex64", "b64", "b64key", "b64hash"}


def _python_type(shape: Any) -> type:
    if isinstance(shape, dict) and "optional" in shape:
        return _python_type(shape["optional"])
    if shape == "int":
        return int
    if shape == "bool":
        return bool
    if isinstance(shape, tuple) or (
        isinstance(shape, str) and (shape in STRINGS or shape.startswith("b64"))
    ):
        return str
    if isinstance(shape, list):
        return list
    if isinstance(shape, dict):  # {"obj": …} or {"map": …}
        return dict
    raise AssertionError(f"unknown shape {shape!r}")


def _field_type(hint: Any) -> tuple[type, bool]:
    """(base type, optional) of a field's annotation."""
    optional = False
    if isinstance(hint, types.UnionType) or typing.get_origin(hint) is typing.Union:
        args = [a for a in typing.get_args(hint) if a is not type(None)]
        optional = len(args) < len(typing.get_args(hint))
        (hint,) = args
    return typing.get_origin(hint) or hint, optional


def test_the_registry_has_exactly_the_verifiers_kinds() -> None:
    assert sorted(ENTRY_KINDS) == sorted(BODY_SHAPES)


def _members(cls: type[EntryBody]) -> dict[str, tuple[type, bool]]:
    """(base type, optional) of each body member a kind declares: its dataclass fields
    (optional: `X | None = None`), or for `definition` the TypedDict its one field holds
    (optional: NotRequired)."""
    if cls is Definition:
        declared = typing.get_type_hints(cls)["members"]
        members = {}
        for name, hint in typing.get_type_hints(declared, include_extras=True).items():
            optional = typing.get_origin(hint) is typing.NotRequired
            base = typing.get_args(hint)[0] if optional else hint
            members[name] = (typing.get_origin(base) or base, optional)
        return members
    hints = typing.get_type_hints(cls)
    members = {}
    for f in dataclasses.fields(cls):
        base, optional = _field_type(hints[f.name])
        if optional:
            assert f.default is None, f"{cls.kind}.{f.name}: optional members default None"
        members[f.name] = (base, optional)
    return members


@pytest.mark.parametrize("kind", sorted(BODY_SHAPES))
def test_each_kind_has_the_verifiers_members_and_types(kind: str) -> None:
    cls = ENTRY_KINDS[kind]
    assert cls.kind == kind
    members = _members(cls)
    shape = BODY_SHAPES[kind]
    assert set(members) == set(shape), kind
    for name, member in shape.items():
        base, optional = members[name]
        assert base is _python_type(member), f"{kind}.{name}"
        spec_optional = isinstance(member, dict) and "optional" in member
        assert optional is spec_optional, f"{kind}.{name}: optional in one, not the other"


def test_an_optional_member_left_out_is_absent_from_the_body() -> None:
    body = Support(candidate="0b0e4c6e-8f7e-4a8e-9d6f-0d3c2b1a0f9e", supporter="a" * 64).body()
    assert body == {"candidate": "0b0e4c6e-8f7e-4a8e-9d6f-0d3c2b1a0f9e", "supporter": "a" * 64}
    check_body("support", body)  # and the verifier accepts it as it is
    entry = Qualification(candidate="0b0e4c6e-8f7e-4a8e-9d6f-0d3c2b1a0f9e", supports=3, threshold=3)
    check_body("qualification", entry.body())


def test_phase_changes_and_checkpoints_are_the_documented_ones() -> None:
    # docs/audit-log.md §6: a checkpoint ends at each of these.
    assert PHASE_CHANGE_KINDS == {"definition", "round-open", "round-close", "tally-key", "result"}
    # Published as soon as committed: the phase changes, a candidate's qualification, the
    # trustees' election key and a round's encrypted sums (§10).
    published = {k for k, cls in ENTRY_KINDS.items() if cls.checkpoint}
    assert published == PHASE_CHANGE_KINDS | {"qualification", "election-key", "tally-sums"}
    assert all(issubclass(cls, EntryBody) for cls in ENTRY_KINDS.values())
    signed_too = {k: cls.signer for k, cls in ENTRY_KINDS.items() if cls.signer != "log"}
    assert signed_too == {
        "support": "log+credential",
        "ballot": "log+credential",
        "trustee-keygen": "log+trustee",
        "trustee-ack": "log+trustee",
        "trustee-decryption": "log+trustee",
    }
    for kind, signer in signed_too.items():  # the co-signature is a body member
        assert signer.split("+")[1][:7] in " ".join(BODY_SHAPES[kind]), kind


def test_an_unknown_kind_is_named_in_the_error() -> None:
    with pytest.raises(UnknownEntryKind, match="made-up"):
        kind_of("made-up")
