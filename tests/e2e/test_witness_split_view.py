"""Split view: the operator shows one tree to some observers and another to others. Under a
2-of-2 witness policy (real `scrutin-witness` servers on loopback) at most one view gets a
quorum, and `scrutin-audit` fails on the other one (check 12; receipt check 5)."""

from __future__ import annotations

import base64
import copy
import json
from pathlib import Path
from typing import Any

import pytest

from audit import merkle as audit_merkle
from audit.cli import main as audit_main
from crypto.cosignature import format_add_checkpoint
from tests.audit.builder import LogBuilder, honest_primary, write_json
from tests.fixtures.witnesses import WitnessServer


def policy(*witnesses: WitnessServer, quorum: str = "all") -> str:
    text = "".join(f"witness w{i} {w.vkey} {w.url}\n" for i, w in enumerate(witnesses, 1))
    names = " ".join(f"w{i}" for i in range(1, len(witnesses) + 1))
    return text + f"group g {quorum} {names}\nquorum g\n"


def fork(builder: LogBuilder) -> LogBuilder:
    """The same log key and primary, another history: revision 2 says something else."""
    other = copy.deepcopy(builder)
    spec = next(s for s in other.specs if s.kind == "definition" and s.body["revision"] == 2)
    spec.body = {**spec.body, "description": "Une autre histoire"}
    return other


def cosign(export: dict[str, Any], *witnesses: WitnessServer, old: int = 0) -> list[int]:
    """Submit the export's last checkpoint; put the cosignatures on it; the statuses."""
    note = export["checkpoints"][-1]
    statuses = []
    for witness in witnesses:
        proof: list[bytes] = []
        size = len(export["entries"])
        if 0 < old < size:
            leaves = [audit_merkle.leaf_hash(base64.b64decode(e)) for e in export["entries"]]
            proof = audit_merkle.Tree(leaves).consistency_proof(old, size)
        status, _, body = witness.add_checkpoint(format_add_checkpoint(old, proof, note))
        statuses.append(status)
        if status == 200:
            export["checkpoints"][-1] += body.decode()
    return statuses


def audit(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, dict[str, Any]]:
    code = audit_main([*argv, "--json", "--lang", "en"])
    out = capsys.readouterr().out
    return code, json.loads(out)


def check(report: dict[str, Any], number: int) -> dict[str, Any]:
    return next(c for c in report["checks"] if c["number"] == number)


@pytest.fixture
def witnesses(tmp_path: Path):  # type: ignore[no-untyped-def]
    made = [WitnessServer(tmp_path / f"w{i}", f"witness.test/w{i}", []) for i in range(1, 5)]
    yield made
    for witness in made:
        witness.stop()


def test_only_one_view_can_reach_a_two_of_two_quorum(
    tmp_path: Path, witnesses: list[WitnessServer], capsys: pytest.CaptureFixture[str]
) -> None:
    w1, w2 = witnesses[:2]
    scenario = honest_primary(witness_policy=policy(w1, w2))
    for witness in (w1, w2):
        witness.set_logs([scenario.builder.vkey])
        witness.start()
    shown_to_voters = scenario.builder.export()
    shown_to_press = fork(scenario.builder).export()
    assert shown_to_voters["checkpoints"][-1] != shown_to_press["checkpoints"][-1]

    assert cosign(shown_to_voters, w1, w2) == [200, 200]
    size = len(shown_to_press["entries"])
    # The fork at the same size: both witnesses refuse it, whatever old size is claimed.
    assert cosign(shown_to_press, w1, w2, old=size) == [422, 422]
    assert cosign(shown_to_press, w1, w2, old=0) == [409, 409]

    key = scenario.builder.vkey
    code, report = audit(
        capsys, "verify", write_json(str(tmp_path / "a.json"), shown_to_voters), "--log-key", key
    )
    assert code == 0, [c for c in report["checks"] if not c["ok"]]
    assert report["summary"]["witnesses"] == {
        "quorum": "g: 2 of (w1, w2)",
        "met": True,
        "cosigned": ["w1", "w2"],
    }
    note = check(report, 12)["note"]
    assert "w1 (witness.test/w1+" in note and "quorum met (g: 2 of (w1, w2)) by: w1, w2" in note

    code, report = audit(
        capsys, "verify", write_json(str(tmp_path / "b.json"), shown_to_press), "--log-key", key
    )
    assert code == 1
    assert [c["number"] for c in report["checks"] if not c["ok"]] == [12]
    assert [f["code"] for f in check(report, 12)["failures"]] == ["witness-quorum-missing"]

    # A voter's receipt from each view, checked against that view.
    kinds = [json.loads(base64.b64decode(e))["kind"] for e in shown_to_voters["entries"]]
    index = kinds.index("ballot")
    for name, export, ok in (("a", shown_to_voters, True), ("b", shown_to_press, False)):
        receipt = write_json(
            str(tmp_path / f"{name}-receipt.json"), scenario.builder.receipt(export, index)
        )
        code, report = audit(
            capsys, "receipt", receipt, "--log", str(tmp_path / f"{name}.json"), "--log-key", key
        )
        assert check(report, 5)["ok"] is ok
        assert (code == 0) is ok


def test_splitting_the_witnesses_leaves_both_views_without_quorum(
    tmp_path: Path, witnesses: list[WitnessServer], capsys: pytest.CaptureFixture[str]
) -> None:
    w3, w4 = witnesses[2:]
    scenario = honest_primary(witness_policy=policy(w3, w4))
    for witness in (w3, w4):
        witness.set_logs([scenario.builder.vkey])
        witness.start()
    view_a = scenario.builder.export()
    view_b = fork(scenario.builder).export()
    assert cosign(view_a, w3) == [200]
    assert cosign(view_b, w4) == [200]
    key = scenario.builder.vkey
    for name, export in (("a", view_a), ("b", view_b)):
        path = write_json(str(tmp_path / f"{name}.json"), export)
        code, report = audit(capsys, "verify", path, "--log-key", key)
        assert code == 1
        assert [c["number"] for c in report["checks"] if not c["ok"]] == [12]
        # An observer content with any one witness says so with --policy.
        lenient = tmp_path / "any.policy"
        lenient.write_text(policy(w3, w4, quorum="any"))
        code, report = audit(capsys, "verify", path, "--log-key", key, "--policy", str(lenient))
        assert code == 0
        assert report["summary"]["witnesses"]["met"] is True


def test_a_policy_file_that_cannot_be_read_is_unusable_input(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    scenario = honest_primary()
    path = write_json(str(tmp_path / "a.json"), scenario.builder.export())
    code = audit_main(
        ["verify", path, "--log-key", scenario.builder.vkey, "--policy", str(tmp_path / "none")]
    )
    assert code == 2
    assert "--policy" in capsys.readouterr().err
    (tmp_path / "bad.policy").write_text("quorum nobody\n")
    code, report = audit(
        capsys,
        "verify",
        path,
        "--log-key",
        scenario.builder.vkey,
        "--policy",
        str(tmp_path / "bad.policy"),
    )
    assert code == 1
    assert [f["code"] for f in check(report, 12)["failures"]] == ["witness-policy-bad"]
