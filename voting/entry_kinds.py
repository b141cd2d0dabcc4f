"""Every kind of public log entry, in one place (docs/audit-log.md §8).

A frozen dataclass per kind: its fields are the entry's body members (an optional member is
`None` when absent, and then left out of the body), and class attributes, given in the class
header (`class RoundClose(EntryBody, kind="round-close", ...)`), say

- `kind`: the entry's `kind` string;
- `signer`: who signs it; every entry is signed by the log key (§3); `log+credential` kinds
  also carry the voter credential's signature in `credential_sig` when the primary uses
  voter-held credentials, `log+trustee` kinds a trustee's `trustee_sig` (§10);
- `checkpoint`: a checkpoint is published as soon as its state change commits (the unit of
  work's duty, `voting.unit_of_work`);
- `phase_change`: the sequencer also signs a checkpoint of the tree ending exactly at it;
- `wait`: the caller needs its index after commit (a ballot's receipt, a result's index).

Services build their entries here and append them with `log.append(conn, primary_id, entry)`.
The verifier's shapes (audit/envelope.py `BODY_SHAPES`) must agree member for member:
tests/voting/test_entry_kinds.py reads both.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import ClassVar, TypedDict

from voting.definition import DefinitionBody
from voting.majority import Standing


@dataclass(frozen=True)
class EntryBody:
    kind: ClassVar[str]
    signer: ClassVar[str] = "log"
    checkpoint: ClassVar[bool] = False
    phase_change: ClassVar[bool] = False
    wait: ClassVar[bool] = False

    def __init_subclass__(
        cls,
        *,
        kind: str,
        signer: str = "log",
        checkpoint: bool = False,
        phase_change: bool = False,
        wait: bool = False,
        **kwargs: object,
    ) -> None:
        """A kind says its class attributes in its header: `class X(EntryBody, kind="x", ...)`."""
        super().__init_subclass__(**kwargs)
        cls.kind = kind
        cls.signer = signer
        cls.checkpoint = checkpoint
        cls.phase_change = phase_change
        cls.wait = wait

    def body(self) -> dict[str, object]:
        """The entry's body: every field, optional ones (None) left out."""
        return {
            f.name: getattr(self, f.name)
            for f in dataclasses.fields(self)
            if getattr(self, f.name) is not None
        }


@dataclass(frozen=True)
class Definition(EntryBody, kind="definition", checkpoint=True, phase_change=True):
    """The primary's rules, at creation and at each revision (the schedule is in `phases`):
    a validated definition, whose members (`voting.definition.DefinitionBody`, declared once
    there) are the body's."""

    members: DefinitionBody

    def body(self) -> dict[str, object]:
        return dict(self.members)


@dataclass(frozen=True)
class Candidacy(EntryBody, kind="candidacy"):
    candidate: str
    action: str
    name: str
    declaration: str
    reason: str


@dataclass(frozen=True)
class Support(EntryBody, kind="support", signer="log+credential"):
    candidate: str
    supporter: str
    credential: str | None = None
    credential_sig: str | None = None


@dataclass(frozen=True)
class SupportWithdrawal(EntryBody, kind="support-withdrawal"):
    candidate: str
    supporter: str


@dataclass(frozen=True)
class Qualification(EntryBody, kind="qualification", checkpoint=True):
    candidate: str
    supports: int
    threshold: int


@dataclass(frozen=True)
class AllowList(EntryBody, kind="allow-list"):
    emails: int
    numbers: int
    added: int
    removed: int
    digest: str


@dataclass(frozen=True)
class Approval(EntryBody, kind="approval"):
    citizen: str
    decision: str
    approved: int


@dataclass(frozen=True)
class RoundOpen(EntryBody, kind="round-open", checkpoint=True, phase_change=True):
    round: int
    candidates: list[dict[str, str]]
    subset_size: int
    allow_blank: bool
    tally_public_key: str | None = None  # a sealed-ballot round
    election_public_key: str | None = None  # an encrypted-ballot round (§10)


@dataclass(frozen=True)
class Ballot(EntryBody, kind="ballot", signer="log+credential", wait=True):
    round: int
    sealed: str | None = None  # or `encrypted` (§10)
    credential: str | None = None
    credential_sig: str | None = None
    encrypted: str | None = None


@dataclass(frozen=True)
class Credential(EntryBody, kind="credential"):
    credential: str
    citizen: str
    assisted: bool
    replaces: str | None = None


@dataclass(frozen=True)
class Roll(EntryBody, kind="roll"):
    round: int
    count: int
    assisted: int
    digest: str


@dataclass(frozen=True)
class RoundClose(EntryBody, kind="round-close", checkpoint=True, phase_change=True, wait=True):
    round: int
    turnout: int


@dataclass(frozen=True)
class TallyKey(EntryBody, kind="tally-key", checkpoint=True, phase_change=True):
    round: int
    tally_secret_key: str


@dataclass(frozen=True)
class Result(EntryBody, kind="result", checkpoint=True, phase_change=True, wait=True):
    round: int
    tree_size: int
    root: str
    rule: str
    missing: str
    upper_median: bool
    default_grade: int
    counts: dict[str, int]
    candidates: dict[str, Standing]
    ranking: list[str]
    tie_groups: list[list[str]]


# §10 "Key ceremony" and "Encrypted tally" (voting/trustees.py). Trustee-made bodies carry the
# trustee's own signature in `trustee_sig`, checked by the service before it logs them.
@dataclass(frozen=True)
class Trustee(EntryBody, kind="trustee"):
    index: int
    name: str
    signing_key: str
    box_key: str


class SealedShare(TypedDict):
    """A trustee's share for trustee `to`, sealed to its box key (base64)."""

    box: str
    to: int


@dataclass(frozen=True)
class TrusteeKeygen(EntryBody, kind="trustee-keygen", signer="log+trustee"):
    index: int
    commitments: list[str]
    pok: str
    shares: list[SealedShare]
    trustee_sig: str
    attempt: int | None = None  # the ceremony's attempt, from attempt 2 on (§10 item 5)


@dataclass(frozen=True)
class TrusteeAck(EntryBody, kind="trustee-ack", signer="log+trustee"):
    index: int
    complaints: list[int]
    trustee_sig: str
    attempt: int | None = None


@dataclass(frozen=True)
class CeremonyRestart(EntryBody, kind="ceremony-restart"):
    """The organiser restarts a key ceremony that has not given its election key: every
    earlier keygen and ack is void, the `replaced` trustees leave it (§10 item 5)."""

    attempt: int
    replaced: list[int]
    reason: str


@dataclass(frozen=True)
class ElectionKey(EntryBody, kind="election-key", checkpoint=True):
    public_key: str
    verification_keys: list[str]
    trustees: int
    threshold: int


@dataclass(frozen=True)
class TallySums(EntryBody, kind="tally-sums", checkpoint=True):
    round: int
    ballots: int
    sums: dict[str, list[str]]
    blank: str | None = None


@dataclass(frozen=True)
class TrusteeDecryption(EntryBody, kind="trustee-decryption", signer="log+trustee"):
    round: int
    index: int
    shares: dict[str, list[str]]
    trustee_sig: str
    blank: str | None = None


ENTRY_KINDS: dict[str, type[EntryBody]] = {
    cls.kind: cls
    for cls in (
        Definition,
        Candidacy,
        Support,
        SupportWithdrawal,
        Qualification,
        AllowList,
        Approval,
        RoundOpen,
        Ballot,
        Credential,
        Roll,
        RoundClose,
        TallyKey,
        Result,
        Trustee,
        TrusteeKeygen,
        TrusteeAck,
        CeremonyRestart,
        ElectionKey,
        TallySums,
        TrusteeDecryption,
    )
}
# The sequencer signs a checkpoint of the tree ending exactly at each of these (audit check 11).
PHASE_CHANGE_KINDS = frozenset(k for k, cls in ENTRY_KINDS.items() if cls.phase_change)


class UnknownEntryKind(LookupError):
    """A service tried to log a kind that is not in the registry (a programming error)."""


def kind_of(kind: str) -> type[EntryBody]:
    try:
        return ENTRY_KINDS[kind]
    except KeyError:
        raise UnknownEntryKind(f"no log entry kind {kind!r} in voting.entry_kinds") from None
