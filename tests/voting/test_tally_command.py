"""`scrutin tally CASE.json` (voting/tally_command.py), in-process and once as a subprocess."""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from voting import tally_command

ROOT = Path(__file__).resolve().parents[2]
VECTORS = json.loads((Path(__file__).parent / "data" / "mj_vectors.json").read_text("utf-8"))

FOOD = {
    "grades": ["To Reject", "Passable", "Good", "Excellent"],
    "profiles": {
        "Pizza": [3, 2, 2, 3],
        "Chips": [2, 4, 2, 2],
        "Pasta": [3, 2, 3, 2],
        "Bread": [1, 3, 4, 2],
    },
    "participants": 10,
}


def write(tmp_path: Path, case: Any, name: str = "case.json") -> str:
    path = tmp_path / name
    path.write_text(json.dumps(case, ensure_ascii=False), encoding="utf-8")
    return str(path)


def run_cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    status = tally_command.main(list(argv))
    out, err = capsys.readouterr()
    return status, out, err


def test_table_output_in_french(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    status, out, err = run_cli(capsys, write(tmp_path, FOOD), "--lang", "fr")
    assert status == 0
    assert err == ""
    lines = out.splitlines()
    assert lines[0].split() == [
        "Rang",
        "Candidat",
        "Mention",
        "majoritaire",
        "Profil",
        "(pire",
        "→",
        "meilleure)",
    ]
    rows = [line.split() for line in lines[2:6]]
    assert [row[:2] for row in rows] == [
        ["1", "Bread"],
        ["2", "Pizza"],
        ["3", "Pasta"],
        ["4", "Chips"],
    ]
    assert rows[0][2:] == ["Good", "1", "3", "4", "2"]
    explanations = [line for line in lines if line.startswith("- ")]
    assert len(explanations) == 3
    assert explanations[1].startswith(
        "- Pizza et Pasta ont la même mention majoritaire « Passable »"
    )


def test_language_follows_lang_environment(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write(tmp_path, FOOD)
    monkeypatch.setenv("LANG", "en_GB.UTF-8")
    status, out, _ = run_cli(capsys, path)
    assert status == 0
    assert out.startswith("Rank")
    assert "Pizza and Pasta share the majority grade “Passable”" in out
    monkeypatch.setenv("LANG", "C.UTF-8")
    _, out, _ = run_cli(capsys, path)
    assert out.startswith("Rang")


def test_json_output(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    status, out, _ = run_cli(capsys, write(tmp_path, FOOD), "--json", "--rule", "majority-gauge")
    assert status == 0
    data = json.loads(out)
    assert data["rule"] == "majority-gauge"
    assert data["ranking"] == ["Bread", "Pasta", "Pizza", "Chips"]
    assert data["ranks"] == {"Bread": 1, "Pizza": 2, "Pasta": 2, "Chips": 4}
    assert data["majority_grades"] == {
        "Pizza": "Passable",
        "Chips": "Passable",
        "Pasta": "Passable",
        "Bread": "Good",
    }
    assert data["tie_groups"] == [["Pasta", "Pizza"]]
    assert data["result"]["counts"] == {"valid": 10, "blank": 0, "invalid": 0}
    assert len(data["explanations"]) == 3


def test_number_of_grades_and_case_policy(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # 'Feedback from Paris': 7 grades as a number, static default grade 0 for D's missing one.
    (case,) = [c for c in VECTORS if "Feedback from Paris" in c["source"]]
    path = write(tmp_path, case)
    status, out, _ = run_cli(capsys, path, "--json", "--rule", "mieux-voter", "--lang", "en")
    assert status == 0
    data = json.loads(out)
    assert data["ranking"] == case["expected_ranking"]
    assert data["ranks"] == case["expected_ranks"]
    assert data["majority_grades"]["B"] == "Good"  # the 7-grade preset's label
    assert data["result"]["balanced_profiles"]["D"] == [2, 0, 4, 3, 7, 4, 1]
    # The command line overrides the case's policy.
    status, _, err = run_cli(capsys, path, "--missing", "strict")
    assert status == 2
    assert "'D' has 20 judgments" in err


def test_share_profiles(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (case,) = [c for c in VECTORS if "profile_unit" in c]
    for rule, expected in case["expected_rankings_by_rule"].items():
        rule_id = {"mj": "majority-gauge"}.get(rule, rule)
        status, out, _ = run_cli(capsys, write(tmp_path, case), "--json", "--rule", rule_id)
        assert status == 0
        assert json.loads(out)["ranking"] == expected


def test_options(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    case = {"grades": 3, "profiles": {"A": [2, 0, 2], "B": [1, 2, 1], "C": [0, 0, 1]}}
    path = write(tmp_path, case)
    _, out, _ = run_cli(capsys, path, "--json")
    assert json.loads(out)["ranking"] == ["C", "B", "A"]
    _, out, _ = run_cli(capsys, path, "--json", "--upper-median", "--missing", "worst-grade")
    assert json.loads(out)["ranking"] == ["A", "B", "C"]
    _, out, _ = run_cli(capsys, path, "--json", "--missing", "worst-grade", "--default-grade", "2")
    assert json.loads(out)["result"]["balanced_profiles"]["C"] == [0, 0, 4]
    _, out, _ = run_cli(capsys, path, "--json", "--min-participation", "1/2")
    data = json.loads(out)
    assert data["flagged"] == ["C"]
    assert data["ranking"][-1] == "C"
    _, out, _ = run_cli(capsys, path, "--min-participation", "1/2")
    assert "3*" in out


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "cannot read"),
        ("{not json", "not valid JSON"),
        ("[1, 2]", "JSON object"),
        ('{"grades": 3}', "no 'profiles'"),
        ('{"grades": "abc", "profiles": {}}', "'grades'"),
        ('{"grades": 3, "profiles": {"A": [1, -1, 0]}}', "negative"),
        ('{"grades": 3, "profiles": {"A": [1, 1]}}', "2 counts for a 3-grade scale"),
        ('{"grades": 3, "profiles": {"A": [1, 0.5, 1]}}', "integers"),
        ('{"grades": 3, "profiles": {"A": [1, "x", 1]}}', "non-number"),
        ('{"grades": ["a", "a"], "profiles": {"A": [1, 1]}}', "twice"),
        ('{"grades": 3, "profiles": {"A": [1, 1, 1]}, "participants": 2}', "participants"),
        ('{"grades": 3, "profiles": {"A": [1, 1, 1]}, "default_grade_index": 7}', "default"),
    ],
)
def test_bad_case_file_exits_2_with_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], content: str | None, message: str
) -> None:
    path = tmp_path / "case.json"
    if content is not None:
        path.write_text(content, encoding="utf-8")
    status, out, err = run_cli(capsys, str(path))
    assert status == 2
    assert out == ""
    assert len(err.strip().splitlines()) == 1
    assert message in err
    assert "Traceback" not in err


def test_integrator_wiring(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    parser = argparse.ArgumentParser(prog="scrutin")
    commands = parser.add_subparsers(dest="command")
    sub = commands.add_parser("tally")
    tally_command.add_arguments(sub)
    sub.set_defaults(run=tally_command.run)
    args = parser.parse_args(["tally", write(tmp_path, FOOD), "--json"])
    assert args.run(args) == 0
    assert json.loads(capsys.readouterr().out)["ranking"][0] == "Bread"


def test_unknown_rule_is_an_argparse_error(tmp_path: Path) -> None:
    with pytest.raises(SystemExit) as info:
        tally_command.main([write(tmp_path, FOOD), "--rule", "borda"])
    assert info.value.code == 2


def test_as_a_module_in_a_subprocess(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "LANG": "en_US.UTF-8"}
    good = subprocess.run(
        [sys.executable, "-m", "voting.tally_command", write(tmp_path, FOOD)],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        check=False,
    )
    assert good.returncode == 0, good.stderr
    assert "Bread" in good.stdout.splitlines()[2]
    bad = subprocess.run(
        [sys.executable, "-m", "voting.tally_command", str(tmp_path / "missing.json")],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        check=False,
    )
    assert bad.returncode == 2
    assert bad.stdout == ""
    assert len(bad.stderr.strip().splitlines()) == 1
    assert "cannot read" in bad.stderr
