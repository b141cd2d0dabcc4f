"""Honest logs pass all ten checks; each tampering is caught by the right check."""

from __future__ import annotations

import base64
import copy
import json
import os
from collections.abc import Callable
from typing import Any

import pytest
from nacl.public import PrivateKey
from nacl.signing import SigningKey

from audit import parallel
from audit.canonical import encode
from audit.note import parse_verifier_key
from audit.sources import load_tiles
from audit.verify import verify
from tests.audit.builder import (
    Scenario,
    Spec,
    b64,
    ballot_plaintext,
    honest_primary,
    pseudonym,
    seal,
    sign_note,
    write_tiles,
)
from tests.audit.util import entry, failed, run, set_entry


@pytest.fixture(scope="module")
def scenario() -> Scenario:
    return honest_primary()


@pytest.fixture(scope="module")
def honest(scenario: Scenario) -> dict[str, Any]:
    return scenario.builder.export()


def test_honest_log_passes_every_check(scenario: Scenario, honest: dict[str, Any]) -> None:
    report = run(honest, scenario.builder.vkey)
    assert failed(report) == {}
    assert sorted(report.checks)[:11] == list(range(1, 12))
    assert report.summary["rounds"][0]["blank"] == 1
    assert report.summary["rounds"][0]["valid"] == 6
    assert report.checks[9].warnings == []


def test_empty_rounds_are_nothing_to_check() -> None:
    s = honest_primary(result=False)
    b = s.builder
    b.specs = b.specs[: s.index["round-open"]]
    report = run(b.export(), b.vkey)
    assert report.ok
    for n in (8, 9, 10):
        assert [f.code for f in report.checks[n].notes] == ["nothing"]


def test_honest_log_in_parallel(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(parallel, "SERIAL_BELOW", 0)
    s = honest_primary([{"A": i % 7, "B": (3 * i) % 7, "C": (5 * i) % 7} for i in range(60)])
    report = run(s.builder.export(), s.builder.vkey, workers=2)
    assert failed(report) == {}
    assert report.summary["rounds"][0]["valid"] == 60


def test_honest_tiles_directory(tmp_path: Any, scenario: Scenario, honest: dict[str, Any]) -> None:
    log = load_tiles(write_tiles(str(tmp_path / "log"), honest))
    report = verify(log, parse_verifier_key(scenario.builder.vkey), workers=1)
    assert failed(report) == {}


def test_every_rule_and_policy_recounts(scenario: Scenario) -> None:
    for rule in ("majority-value", "majority-gauge", "mieux-voter", "typical", "central", "usual"):
        for missing in ("normalize", "worst-grade", "median"):
            s = honest_primary(rule=rule, missing=missing, upper_median=rule == "typical")
            assert failed(run(s.builder.export(), s.builder.vkey)) == {}, (rule, missing)


# -- tamper corpus ----------------------------------------------------------------------------


def _rebuild(mutate: Callable[[Scenario], None], **kw: Any) -> Callable[[], tuple]:
    def make() -> tuple[dict[str, Any], str, Scenario]:
        s = honest_primary(**kw)
        mutate(s)
        return s.builder.export(), s.builder.vkey, s

    return make


def _bytes(mutate: Callable[[dict[str, Any], Scenario], None]) -> Callable[[], tuple]:
    def make() -> tuple[dict[str, Any], str, Scenario]:
        s = honest_primary()
        doc = s.builder.export()
        mutate(doc, s)
        return doc, s.builder.vkey, s

    return make


def flip_entry(doc: dict[str, Any], s: Scenario) -> None:
    i = s.index["first-ballot"]
    raw = bytearray(entry(doc, i))
    pos = raw.index(b'"sealed":"') + 20
    raw[pos] = ord("A") if raw[pos] != ord("A") else ord("B")
    set_entry(doc, i, bytes(raw))


def flip_signature(doc: dict[str, Any], s: Scenario) -> None:
    i = s.index["round-close"]
    raw = bytearray(entry(doc, i))
    pos = raw.index(b'"sig":"') + 10
    raw[pos] = ord("A") if raw[pos] != ord("A") else ord("B")
    set_entry(doc, i, bytes(raw))


def flip_checkpoint(doc: dict[str, Any], s: Scenario) -> None:
    text = doc["checkpoints"][-1]
    lines = text.split("\n")
    root = bytearray(base64.b64decode(lines[2]))
    root[0] ^= 1
    lines[2] = b64(bytes(root))
    doc["checkpoints"][-1] = "\n".join(lines)


def remove_entry(doc: dict[str, Any], s: Scenario) -> None:
    del doc["entries"][s.index["withdrawal"]]


def duplicate_entry(doc: dict[str, Any], s: Scenario) -> None:
    i = s.index["first-ballot"]
    doc["entries"].insert(i + 1, doc["entries"][i])


def reorder_entries(doc: dict[str, Any], s: Scenario) -> None:
    i = s.index["first-ballot"]
    doc["entries"][i], doc["entries"][i + 1] = doc["entries"][i + 1], doc["entries"][i]


def insert_entry(doc: dict[str, Any], s: Scenario) -> None:
    b = s.builder
    extra = b.entry_bytes(
        Spec(
            "support",
            {"candidate": list(s.candidates)[3], "supporter": pseudonym("intrus")},
            b.time,
        )
    )
    doc["entries"].insert(s.index["withdrawal"], b64(extra))


def truncate_export(doc: dict[str, Any], s: Scenario) -> None:
    del doc["entries"][-3:]


def wrong_checkpoint_key(doc: dict[str, Any], s: Scenario) -> None:
    body = doc["checkpoints"][-1].split("\n\n")[0] + "\n"
    doc["checkpoints"][-1] = sign_note(body, s.builder.origin, SigningKey.generate())


def tamper_tile(doc: dict[str, Any], s: Scenario) -> None:
    pass  # handled in its own test (needs a directory)


def ballot_after_close(s: Scenario) -> None:
    b = s.builder
    pk = bytes(s.tally_key.public_key)
    ballot = {s.round_ids[0]: 6}
    b.specs.insert(
        s.index["round-close"] + 1,
        Spec("ballot", {"round": 1, "sealed": seal(pk, ballot_plaintext(1, ballot))}, b.time),
    )


def ballot_unknown_candidate(s: Scenario) -> None:
    b = s.builder
    pk = bytes(s.tally_key.public_key)
    ballot = {list(s.candidates)[3]: 6}  # D was not qualified for round 1
    b.specs.insert(
        s.index["round-close"],
        Spec("ballot", {"round": 1, "sealed": seal(pk, ballot_plaintext(1, ballot))}, b.time),
    )
    b.specs[s.index["round-close"] + 1].body["turnout"] += 1


def forged_signature(s: Scenario) -> None:
    s.builder.specs[s.index["round-close"]].signer = SigningKey.generate()


def forged_with_log_key_id(s: Scenario) -> None:
    spec = s.builder.specs[s.index["round-close"]]
    spec.signer = SigningKey.generate()
    spec.key_field = s.builder.key_id


def non_canonical(s: Scenario) -> None:
    b = s.builder
    spec = b.specs[s.index["round-close"]]
    honest_raw = b.entry_bytes(spec)
    value = json.loads(honest_raw)
    spec.raw = json.dumps(value, indent=1).encode()  # whitespace: not JCS


def result_off_by_one(s: Scenario) -> None:
    body = s.builder.specs[s.index["result"]].body
    body["candidates"][s.round_ids[1]]["profile"][4] += 1


def result_swapped_rank(s: Scenario) -> None:
    body = s.builder.specs[s.index["result"]].body
    a, b2 = s.round_ids[0], s.round_ids[1]
    ca, cb = body["candidates"][a], body["candidates"][b2]
    ca["rank"], cb["rank"] = cb["rank"], ca["rank"]
    body["ranking"] = [b2, a, s.round_ids[2]]


def result_wrong_rule(s: Scenario) -> None:
    s.builder.specs[s.index["result"]].body["rule"] = "majority-gauge"


def result_wrong_count(s: Scenario) -> None:
    s.builder.specs[s.index["result"]].body["counts"]["blank"] = 0


def result_wrong_root(s: Scenario) -> None:
    body = s.builder.specs[s.index["result"]].body
    body["tree_size"] = s.index["round-close"] + 1
    body["root"] = b64(bytes(32))


def qualification_below_threshold(s: Scenario) -> None:
    # C loses one supporter before its qualification; the qualification claims 2 supports.
    b = s.builder
    cid = s.round_ids[2]
    idx = next(
        i for i, sp in enumerate(b.specs) if sp.kind == "support" and sp.body["candidate"] == cid
    )
    del b.specs[idx]
    q = next(sp for sp in b.specs if sp.kind == "qualification" and sp.body["candidate"] == cid)
    q.body["supports"] = 2


def qualification_misstated(s: Scenario) -> None:
    s.builder.specs[s.index["qualification-A"]].body["supports"] = 4


def duplicate_support(s: Scenario) -> None:
    b = s.builder
    i = s.index["support-A"]
    b.specs.insert(i + 1, copy.deepcopy(b.specs[i]))


def support_after_qualification(s: Scenario) -> None:
    b = s.builder
    b.specs.insert(
        s.index["qualification-A"] + 1,
        Spec("support", {"candidate": s.round_ids[0], "supporter": pseudonym("tardif")}, b.time),
    )


def support_cap_exceeded(s: Scenario) -> None:
    b = s.builder  # citoyen-0 already supports A and C (cap 2)
    b.specs.insert(
        s.index["withdrawal"],
        Spec(
            "support",
            {"candidate": list(s.candidates)[3], "supporter": pseudonym("citoyen-0")},
            b.time,
        ),
    )


def withdrawal_unknown(s: Scenario) -> None:
    s.builder.specs[s.index["withdrawal"]].body["supporter"] = pseudonym("personne")


def tally_key_mismatch(s: Scenario) -> None:
    s.builder.specs[s.index["tally-key"]].body["tally_secret_key"] = b64(
        bytes(PrivateKey.generate())
    )


def definition_after_open(s: Scenario) -> None:
    b = s.builder
    d = {**s.definition, "revision": 3, "threshold": 1}
    b.specs.insert(s.index["round-open"] + 1, Spec("definition", d, b.time))


def result_before_tally_key(s: Scenario) -> None:
    b = s.builder
    i, j = s.index["tally-key"], s.index["result"]
    b.specs[i], b.specs[j] = b.specs[j], b.specs[i]


def unqualified_on_ballot(s: Scenario) -> None:
    body = s.builder.specs[s.index["round-open"]].body
    d = list(s.candidates)[3]
    body["candidates"].append(
        {
            "candidate": d,
            "name": s.candidates[d],
            "declaration": body["candidates"][0]["declaration"],
        }
    )


def ballot_before_open(s: Scenario) -> None:
    b = s.builder
    pk = bytes(s.tally_key.public_key)
    b.specs.insert(
        s.index["round-open"],
        Spec("ballot", {"round": 1, "sealed": seal(pk, ballot_plaintext(1, {}))}, b.time),
    )


def turnout_wrong(s: Scenario) -> None:
    s.builder.specs[s.index["round-close"]].body["turnout"] += 1


def duplicate_ballot(s: Scenario) -> None:
    b = s.builder
    i = s.index["first-ballot"]
    b.specs.insert(i + 1, copy.deepcopy(b.specs[i]))
    b.specs[s.index["round-close"] + 1].body["turnout"] += 1


def close_before_open(s: Scenario) -> None:
    b = s.builder
    b.specs.insert(s.index["round-open"], Spec("round-close", {"round": 1, "turnout": 0}, b.time))


def first_not_definition(s: Scenario) -> None:
    b = s.builder
    b.specs.insert(0, copy.deepcopy(b.specs[2]))


def wrong_origin(s: Scenario) -> None:
    b = s.builder
    spec = b.specs[s.index["round-close"]]
    b.host, orig = "evil.example", b.host
    raw = b.entry_bytes(spec)
    b.host = orig
    spec.raw = raw


def extra_body_member(s: Scenario) -> None:
    s.builder.specs[s.index["round-close"]].body["note"] = "hors spec"


TAMPERS: dict[str, tuple[Callable[[], tuple], int, str]] = {
    "flipped byte in an entry": (_bytes(flip_entry), 5, "bad-signature"),
    "flipped byte in a signature": (_bytes(flip_signature), 5, "bad-signature"),
    "flipped byte in a checkpoint": (_bytes(flip_checkpoint), 1, "checkpoint-bad-signature"),
    "checkpoint signed by another key": (_bytes(wrong_checkpoint_key), 1, "checkpoint-unsigned"),
    "entry removed": (_bytes(remove_entry), 2, "size-mismatch"),
    "entry duplicated": (_bytes(duplicate_entry), 2, "size-mismatch"),
    "entries reordered": (_bytes(reorder_entries), 2, "root-mismatch"),
    "entry inserted": (_bytes(insert_entry), 2, "size-mismatch"),
    "truncated export": (_bytes(truncate_export), 2, "size-mismatch"),
    "ballot after closing": (_rebuild(ballot_after_close), 8, "ballot-after-close"),
    "ballot before opening": (_rebuild(ballot_before_open), 8, "ballot-before-open"),
    "duplicate ballot": (_rebuild(duplicate_ballot), 8, "ballot-duplicate"),
    "turnout off by one": (_rebuild(turnout_wrong), 8, "turnout"),
    "ballot for an unknown candidate": (_rebuild(ballot_unknown_candidate), 10, "count-differs"),
    "forged signature by a wrong key": (_rebuild(forged_signature), 5, "signer-not-allowed"),
    "wrong key posing as the log key": (_rebuild(forged_with_log_key_id), 5, "bad-signature"),
    "non-canonical entry": (_rebuild(non_canonical), 4, "entry-malformed"),
    "entry from another origin": (_rebuild(wrong_origin), 4, "entry-malformed"),
    "unexpected body member": (_rebuild(extra_body_member), 4, "entry-malformed"),
    "result off by one vote": (_rebuild(result_off_by_one), 10, "result-value"),
    "result with a swapped rank": (_rebuild(result_swapped_rank), 10, "result-value"),
    "result with the wrong rule": (_rebuild(result_wrong_rule), 10, "result-setting"),
    "result with a wrong blank count": (_rebuild(result_wrong_count), 10, "count-differs"),
    "result over the wrong tree": (_rebuild(result_wrong_root), 10, "result-root"),
    "qualification below threshold": (
        _rebuild(qualification_below_threshold),
        7,
        "below-threshold",
    ),
    "qualification misstates supports": (_rebuild(qualification_misstated), 7, "supports-differ"),
    "duplicate support": (_rebuild(duplicate_support), 7, "support-duplicate"),
    "support after qualification": (
        _rebuild(support_after_qualification),
        7,
        "support-after-qualification",
    ),
    "support cap exceeded": (_rebuild(support_cap_exceeded), 7, "support-cap"),
    "withdrawal of a missing support": (_rebuild(withdrawal_unknown), 7, "withdrawal-unknown"),
    "tally key that does not match": (_rebuild(tally_key_mismatch), 9, "tally-key-mismatch"),
    "definition revised after opening": (
        _rebuild(definition_after_open),
        6,
        "definition-after-open",
    ),
    "result before the tally key": (_rebuild(result_before_tally_key), 6, "result-phase"),
    "unqualified candidate on the ballot": (
        _rebuild(unqualified_on_ballot),
        6,
        "round-candidate-unqualified",
    ),
    "close before open": (_rebuild(close_before_open), 6, "close-without-open"),
    "first entry not the definition": (_rebuild(first_not_definition), 6, "definition-first"),
}


@pytest.mark.parametrize("name", list(TAMPERS))
def test_tampering_is_caught_by_the_right_check(name: str) -> None:
    make, number, code = TAMPERS[name]
    doc, vkey, _ = make()
    report = run(doc, vkey)
    assert not report.ok
    assert number in failed(report), (name, failed(report))
    assert code in report.checks[number].codes(), (name, failed(report))
    for f in report.checks[number].failures:
        assert f.render("fr") and f.render("en")


def test_entry_level_failures_name_the_index(scenario: Scenario) -> None:
    doc, vkey, s = _bytes(flip_signature)()
    assert (s.index["round-close"], "bad-signature") in failed(run(doc, vkey))[5]
    doc, vkey, s = _rebuild(non_canonical)()
    assert failed(run(doc, vkey))[4] == [(s.index["round-close"], "entry-malformed")]
    doc, vkey, s = _rebuild(ballot_after_close)()
    assert failed(run(doc, vkey))[8] == [(s.index["round-close"] + 1, "ballot-after-close")]


def test_unknown_candidate_ballot_is_classified_invalid() -> None:
    doc, vkey, s = _rebuild(ballot_unknown_candidate)()
    report = run(doc, vkey)
    assert report.checks[9].ok
    assert [(w.index, w.code) for w in report.checks[9].warnings] == [
        (s.index["round-close"], "invalid-unknown-candidate")
    ]


def test_invalid_ballots_counted_by_honest_result() -> None:
    # An honest producer counts the invalid ballot: everything passes.
    s = honest_primary()
    b = s.builder
    pk = bytes(s.tally_key.public_key)
    bad = [
        ballot_plaintext(2, {s.round_ids[0]: 1}),  # wrong round
        ballot_plaintext(1, {s.round_ids[0]: 9}),  # grade out of range
        b'{"round": 1, "grades": {}, "pad": ""}',  # not canonical
    ]
    for k, plain in enumerate(bad):
        b.specs.insert(
            s.index["round-close"] + k,
            Spec("ballot", {"round": 1, "sealed": seal(pk, plain)}, b.time),
        )
    b.specs.insert(
        s.index["round-close"], Spec("ballot", {"round": 1, "sealed": b64(b"x" * 60)}, b.time)
    )
    close = s.index["round-close"] + 4
    b.specs[close].body["turnout"] += 4
    b.specs[close + 2].body["counts"]["invalid"] = 4
    report = run(b.export(), b.vkey)
    assert failed(report) == {}
    assert sorted(w.code for w in report.checks[9].warnings) == sorted(
        [
            "invalid-wrong-round",
            "invalid-grade-out-of-range",
            "invalid-not-canonical",
            "invalid-does-not-open",
        ]
    )


def test_tampered_hash_tile(tmp_path: Any, scenario: Scenario, honest: dict[str, Any]) -> None:
    directory = write_tiles(str(tmp_path / "log"), honest)
    path = os.path.join(directory, "tile", "0", "000.p", str(len(honest["entries"])))
    data = bytearray(open(path, "rb").read())
    data[5] ^= 1
    open(path, "wb").write(bytes(data))
    report = verify(load_tiles(directory), parse_verifier_key(scenario.builder.vkey), workers=1)
    assert failed(report) == {2: [(None, "hash-tile")]}


def test_tiles_entry_changed(tmp_path: Any, scenario: Scenario, honest: dict[str, Any]) -> None:
    doc = copy.deepcopy(honest)
    flip_signature(doc, scenario)
    directory = write_tiles(str(tmp_path / "log"), doc)
    with open(os.path.join(directory, "checkpoint"), "w") as fh:
        fh.write(honest["checkpoints"][-1])
    report = verify(load_tiles(directory), parse_verifier_key(scenario.builder.vkey), workers=1)
    assert {2, 5} <= set(failed(report))  # and 10: the result root no longer matches


# -- append-only across runs (--state) --------------------------------------------------------


def test_state_saved_then_extension_accepted(tmp_path: Any) -> None:
    s = honest_primary()
    b = s.builder
    state = str(tmp_path / "state")
    full = b.export()
    early = copy.deepcopy(full)
    n = s.index["round-close"]
    early["entries"] = early["entries"][:n]
    early["checkpoints"] = [b.checkpoint([base64.b64decode(e) for e in early["entries"]])]
    first = run(early, b.vkey, state=state)
    assert first.ok and [f.code for f in first.checks[3].notes] == ["first-run"]
    assert os.listdir(state)
    second = run(full, b.vkey, state=state)
    assert failed(second) == {}
    assert [f.code for f in second.checks[3].notes] == ["consistent-with"]


def test_fork_from_saved_checkpoint(tmp_path: Any) -> None:
    s = honest_primary()
    b = s.builder
    state = str(tmp_path / "state")
    assert run(b.export(), b.vkey, state=state).ok
    # The operator rewrites history: same key, a different candidacy text early on.
    b.specs[3].body["name"] = "Quelqu'un d'autre"
    report = run(b.export(), b.vkey, state=state)
    assert failed(report) == {3: [(None, "fork")]}


def test_rollback_from_saved_checkpoint(tmp_path: Any) -> None:
    s = honest_primary()
    b = s.builder
    state = str(tmp_path / "state")
    assert run(b.export(), b.vkey, state=state).ok
    del b.specs[-2:]
    report = run(b.export(), b.vkey, state=state)
    assert failed(report) == {3: [(None, "rollback")]}


def test_failed_run_does_not_save_state(tmp_path: Any) -> None:
    doc, vkey, _ = _rebuild(turnout_wrong)()
    state = str(tmp_path / "state")
    assert not run(doc, vkey, state=state).ok
    assert not os.path.exists(state) or not os.listdir(state)


def test_export_checkpoints_pinpoint_the_changed_range() -> None:
    s = honest_primary()
    doc = s.builder.export()
    target = s.index["first-ballot"] + 1
    raw = bytearray(entry(doc, target))
    raw[raw.index(b'"sealed":"') + 15] ^= 1
    set_entry(doc, target, bytes(raw))
    report = run(doc, s.builder.vkey)
    notes = report.checks[2].notes
    assert notes and notes[0].code == "changed-between"
    start, end = notes[0].params["start"], notes[0].params["end"]
    assert start <= target <= end


def test_ballot_plaintext_helper_is_canonical() -> None:
    assert ballot_plaintext(1, {"b": 2, "a": 1}) == encode(
        {"round": 1, "grades": {"a": 1, "b": 2}, "pad": ""}
    )
