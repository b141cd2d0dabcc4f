"""Restarting a stopped key ceremony (docs/audit-log.md §10 item 5, §9 check 14): honest logs
with a complaint, a restart and a second attempt pass; dishonest ones, each re-signed with the
valid log key, fail check 14 with their code. scrutin-audit and the stranger's verifier
(tests/audit/stranger/, written from the spec text) agree on every log."""

from __future__ import annotations

import base64
import dataclasses
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from nacl.signing import SigningKey

from audit.trustees import MESSAGES, trustee_message, verifies
from crypto import trustees as tm
from tests.audit.builder import b64
from tests.audit.encrypted_builder import EncryptedPrimary, trustee_sig
from tests.audit.stranger.verifier import jcs, verify_export
from tests.audit.util import failed, run

SPEC = (Path(__file__).resolve().parents[2] / "docs" / "audit-log.md").read_text("utf-8")
NEW_CODES = (
    "restart-early",
    "restart-after-key",
    "restart-attempt",
    "restart-replaced",
    "restart-reason",
    "attempt-mismatch",
)


def _vote_and_count(p: EncryptedPrimary, *, roll: bool = True) -> None:
    p.open(roll=roll)
    p.cast(1, {"A": 2, "B": 0, "C": 1})
    p.cast(2, None)
    p.cast(3, {"A": 6, "B": 6, "C": 0})
    p.finish()


def _second_attempt(p: EncryptedPrimary, replaced: list[int], **kw: Any) -> None:
    p.restart(replaced, **kw)
    p.register([j for j in replaced if 1 <= j <= p.n])
    p.attempt_round()


def _complained(p: EncryptedPrimary) -> None:
    """Attempt 1: trustee 1 complains about dealer 2, no election key."""
    p.ceremony(complaints={1: [2]})


# -- honest logs -------------------------------------------------------------------------------
def _replace(replaced: list[int]) -> Callable[[EncryptedPrimary], None]:
    def script(p: EncryptedPrimary) -> None:
        _complained(p)
        _second_attempt(p, replaced)
        _vote_and_count(p)

    return script


def _two_restarts(p: EncryptedPrimary) -> None:
    _complained(p)
    p.restart([2])
    p.register([2])
    p.attempt_round(complaints={3: [1]})  # attempt 2 stops too
    _second_attempt(p, [1, 3], reason="Deux garants remplacés :\nle 1 et le 3.")
    _vote_and_count(p)


def _lost_folder(p: EncryptedPrimary) -> None:
    """Trustee 3 lost its key folder before posting: restarted before any keygen."""
    p.register()
    _second_attempt(p, [p.n], reason="Dossier de clés perdu.")
    _vote_and_count(p)


# -- dishonest logs ----------------------------------------------------------------------------
def _restart_early(p: EncryptedPrimary) -> None:
    p.register([1, 2])
    p.restart([])
    p.register([3])
    p.attempt_round()
    _vote_and_count(p)


def _restart_after_key(p: EncryptedPrimary) -> None:
    p.ceremony()
    p.restart([])  # the first attempt's election key stays the rounds' key
    _vote_and_count(p)


def _attempt_skipped(p: EncryptedPrimary) -> None:
    _complained(p)
    _second_attempt(p, [2], attempt=3)
    _vote_and_count(p)


def _attempt_repeated(p: EncryptedPrimary) -> None:
    _complained(p)
    p.restart([2])
    p.register([2])
    p.attempt_round(complaints={1: [2]})
    _second_attempt(p, [2], attempt=2)
    _vote_and_count(p)


def _replaced(replaced: list[int]) -> Callable[[EncryptedPrimary], None]:
    def script(p: EncryptedPrimary) -> None:
        _complained(p)
        p.restart(replaced)
        p.register(sorted({j for j in replaced if 1 <= j <= p.n}))
        p.attempt_round()
        _vote_and_count(p)

    return script


def _reason(reason: str) -> Callable[[EncryptedPrimary], None]:
    def script(p: EncryptedPrimary) -> None:
        _complained(p)
        _second_attempt(p, [2], reason=reason)
        _vote_and_count(p)

    return script


def _replayed(kind: str, nth: int, change: Callable[[dict[str, Any]], None] | None = None
              ) -> Callable[[EncryptedPrimary], None]:  # fmt: skip
    """Attempt 1's nth `kind` body posted again after the restart (re-signed by its trustee
    after `change`, as a dishonest trustee would), before attempt 2's keygens."""

    def script(p: EncryptedPrimary) -> None:
        _complained(p)
        old = [x for x in p.b.specs if x.kind == kind][nth]
        signers = {t.index: t.signing for t in p.trustees}
        p.restart([2])
        body = dict(old.body)
        if change is not None:
            change(body)
            body["trustee_sig"] = trustee_sig(signers[body["index"]], kind, p.origin, body)
        p.b.add(kind, body)
        p.register([2])
        p.attempt_round()
        _vote_and_count(p)

    return script


def _attempt_in_attempt_1(p: EncryptedPrimary) -> None:
    """In a log without restart, trustee 1 first posts its keygen with `attempt: 1`, then
    the honest one."""
    p.ceremony()
    specs = p.b.specs
    at = next(i for i, x in enumerate(specs) if x.kind == "trustee-keygen")
    body = {**specs[at].body, "attempt": 1}
    body["trustee_sig"] = trustee_sig(p.trustees[0].signing, "trustee-keygen", p.origin, body)
    specs.insert(at, dataclasses.replace(specs[at], body=body))
    _vote_and_count(p)


def _election_key(mix: bool) -> Callable[[EncryptedPrimary], None]:
    """Attempt 2 done, then an election key from attempt 1's commitments (or trustee 1's
    from attempt 1 with the others' from attempt 2)."""

    def script(p: EncryptedPrimary) -> None:
        _complained(p)
        first = {t.index: t.dealing.commitments for t in p.trustees}  # type: ignore[union-attr]
        p.restart([])
        p.attempt_round(election_key=False)
        second = {t.index: t.dealing.commitments for t in p.trustees}  # type: ignore[union-attr]
        used = {**second, 1: first[1]} if mix else first
        commitments = [used[j] for j in sorted(used)]
        p.public_key = tm.election_key(commitments)
        p.verification_keys = [tm.verification_key(commitments, j) for j in sorted(used)]
        p.b.add("election-key", p.election_key_body())

    return script


def _old_keys(p: EncryptedPrimary) -> None:
    _complained(p)
    old = p.trustees[1]
    p.restart([2])
    p.trustees[1] = old  # re-registered with the keys attempt 1 used
    p.register([2])
    p.attempt_round()
    _vote_and_count(p)


def _keygen_before_new_trustee(p: EncryptedPrimary) -> None:
    _complained(p)
    _second_attempt(p, [2])
    specs = p.b.specs
    at = max(i for i, x in enumerate(specs) if x.kind == "trustee")
    assert specs[at + 1].kind == "trustee-keygen"
    specs[at], specs[at + 1] = specs[at + 1], specs[at]
    _vote_and_count(p)


def _restart_after_roll(p: EncryptedPrimary) -> None:
    _complained(p)
    p.roll()
    _second_attempt(p, [2])
    _vote_and_count(p, roll=False)


HONEST: dict[str, tuple[dict[str, Any], Callable[[EncryptedPrimary], None]]] = {
    "replace-dealer": ({}, _replace([2])),
    "replace-complainer": ({}, _replace([1])),
    "replace-nobody": ({}, _replace([])),
    "replace-both-3-of-5": ({"n": 5, "k": 3}, _replace([1, 2])),
    "two-restarts": ({}, _two_restarts),
    "lost-folder": ({}, _lost_folder),
    "lost-folder-1-of-1": ({"n": 1, "k": 1}, _lost_folder),
}

DISHONEST: dict[str, tuple[Callable[[EncryptedPrimary], None], str]] = {
    "restart-early": (_restart_early, "restart-early"),
    "restart-after-key": (_restart_after_key, "restart-after-key"),
    "attempt-skipped": (_attempt_skipped, "restart-attempt"),
    "attempt-repeated": (_attempt_repeated, "restart-attempt"),
    "replaced-unsorted": (_replaced([3, 2]), "restart-replaced"),
    "replaced-twice": (_replaced([2, 2]), "restart-replaced"),
    "replaced-zero": (_replaced([0]), "restart-replaced"),
    "replaced-above-n": (_replaced([4]), "restart-replaced"),
    "reason-empty": (_reason(""), "restart-reason"),
    "reason-too-long": (_reason("x" * 501), "restart-reason"),
    "reason-padded": (_reason(" Part fausse. "), "restart-reason"),
    "reason-control": (_reason("Part\rfausse"), "restart-reason"),
    "reason-tab-only": (_reason("\t"), "restart-reason"),
    "keygen-replayed": (_replayed("trustee-keygen", 0), "attempt-mismatch"),
    "ack-replayed": (_replayed("trustee-ack", 2), "attempt-mismatch"),
    "keygen-replayed-attempt-1": (
        _replayed("trustee-keygen", 2, lambda b: b.update(attempt=1)),
        "attempt-mismatch",
    ),
    "ack-replayed-attempt-3": (
        _replayed("trustee-ack", 0, lambda b: b.update(attempt=3)),
        "attempt-mismatch",
    ),
    "attempt-in-attempt-1": (_attempt_in_attempt_1, "attempt-mismatch"),
    "election-key-first-attempt": (_election_key(mix=False), "election-key-differs"),
    "election-key-mixed": (_election_key(mix=True), "election-key-differs"),
    "old-keys-re-registered": (_old_keys, "trustee-key-reused"),
    "keygen-before-new-trustee": (_keygen_before_new_trustee, "keygen-early"),
    "restart-after-roll": (_restart_after_roll, "ceremony-after-roll"),
}


def _both(p: EncryptedPrimary) -> tuple[Any, Any]:
    export = p.export()
    ours, stranger = run(export, p.b.vkey), verify_export(export, p.b.vkey)
    assert stranger.usable
    assert stranger.failed_checks == set(failed(ours)), (stranger.failures, failed(ours))
    return ours, stranger


@pytest.mark.parametrize("name", list(HONEST))
def test_an_honest_restart_passes_in_both_verifiers(name: str) -> None:
    params, script = HONEST[name]
    p = EncryptedPrimary(**params)
    script(p)
    ours, stranger = _both(p)
    assert failed(ours) == {} and stranger.ok, (failed(ours), stranger.failures)
    notes = [f.render("en") for f in ours.checks[14].notes]
    assert any(n.startswith(f"attempt {p.attempt}: ") for n in notes), notes
    assert f"{p.n} trustees, threshold {p.k}: election key recomputed" in notes
    assert "decrypted by trustees" in " ".join(f.render("en") for f in ours.checks[9].notes)


@pytest.mark.parametrize("name", list(DISHONEST))
def test_a_dishonest_restart_fails_check_14_in_both_verifiers(name: str) -> None:
    script, code = DISHONEST[name]
    p = EncryptedPrimary()
    script(p)
    ours, stranger = _both(p)
    assert set(failed(ours)) == {14}, failed(ours)
    assert code in {c for _, c in failed(ours)[14]}, failed(ours)
    # the same entries fail in both
    assert {f.index for f in stranger.failures} == {i for i, _ in failed(ours)[14]}
    if code in NEW_CODES:  # the stranger names the new codes too
        assert code in {f.code for f in stranger.failures if f.check == 14}, stranger.failures


def test_the_report_shows_who_was_replaced_and_why_in_french_and_english() -> None:
    p = EncryptedPrimary()
    _complained(p)
    p.restart([2])
    p.register([2])
    p.attempt_round(complaints={1: [3]})
    p.restart([], reason="Nouveau tirage.")
    report = run(p.export(), p.b.vkey)
    assert failed(report) == {}
    fr = [f.render("fr") for f in report.checks[14].notes]
    en = [f.render("en") for f in report.checks[14].notes]
    fausse = '"Le garant 2 a envoyé une part fausse."'  # quoted, on one line
    assert f"tentative 2 : garant(s) remplacé(s) 2 ; motif : {fausse}" in fr
    assert 'attempt 3: same trustees, new draw; reason: "Nouveau tirage."' in en
    assert "le garant 1 se plaint des parts de 2" in fr[0]
    # attempt 3 has no keygen yet: the ceremony is incomplete, and says which attempt
    assert "attempt 3: 3/3 registered, 0 keygen, 0 ack" in en[-1]


def test_a_log_without_restart_has_no_attempt_member() -> None:
    p = EncryptedPrimary()
    p.ceremony()
    for spec in p.b.specs:
        if spec.kind in ("trustee-keygen", "trustee-ack"):
            assert "attempt" not in spec.body


def test_spec_lists_the_new_codes_in_check_14_and_the_new_kind_in_section_8() -> None:
    check_14 = SPEC[SPEC.index("14. **Key ceremony**") : SPEC.index("How the recount reads")]
    for code in NEW_CODES:
        assert f"(`{code}`" in check_14 or f"`{code}`;" in check_14, code
        assert code in MESSAGES, code
    section_8 = SPEC[SPEC.index("## 8. Entry kinds") : SPEC.index("## 9. How to verify")]
    assert "`ceremony-restart`" in section_8
    assert "5. **`ceremony-restart`**" in SPEC


def test_worked_example_ack_in_attempt_2() -> None:
    """§10 "Worked examples of the trustee part": an acknowledgement signed for attempt 2;
    the attempt-1 signature does not verify on it."""
    sig = re.search(r"`ack-sig-attempt-2: ([A-Za-z0-9+/=]+)`", SPEC).group(1)  # type: ignore[union-attr]
    first = re.search(r"`ack-sig: ([A-Za-z0-9+/=]+)`", SPEC).group(1)  # type: ignore[union-attr]
    key = SigningKey(bytes([1]) * 32)
    origin = "scrutin.localhost/primaries/demo"
    body = {"attempt": 2, "complaints": [], "index": 1}
    message = trustee_message("trustee-ack", origin, body)
    assert message.endswith(b'\x00{"attempt":2,"complaints":[],"index":1}')
    # the stranger's reading of §10 "Trustee signatures" signs the same bytes
    assert message == b"scrutin-trustee-ack/v2\x00" + origin.encode() + b"\x00" + jcs(body)
    assert b64(key.sign(message).signature) == sig
    assert verifies(bytes(key.verify_key), message, sig)
    assert not verifies(bytes(key.verify_key), message, first)
    assert trustee_sig(key, "trustee-ack", origin, body) == sig
    assert base64.b64decode(sig) != base64.b64decode(first)
