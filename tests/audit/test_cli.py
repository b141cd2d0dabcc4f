"""scrutin-audit as a user runs it: exit codes, languages, --json, receipts."""

from __future__ import annotations

import json
import os
import pathlib
import subprocess
import sys
from typing import Any

import pytest

from audit.cli import main
from tests.audit.builder import Scenario, honest_primary, write_json, write_tiles

ROOT = pathlib.Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def scenario() -> Scenario:
    return honest_primary()


@pytest.fixture
def files(tmp_path: pathlib.Path, scenario: Scenario) -> dict[str, str]:
    doc = scenario.builder.export()
    bad = json.loads(json.dumps(doc))
    bad["entries"].pop(5)
    key = tmp_path / "log.vkey"
    key.write_text(scenario.builder.vkey + "\n")
    receipt = scenario.builder.receipt(doc, scenario.index["first-ballot"])
    return {
        "export": write_json(str(tmp_path / "export.json"), doc),
        "bad": write_json(str(tmp_path / "bad.json"), bad),
        "tiles": write_tiles(str(tmp_path / "log"), doc),
        "key": str(key),
        "receipt": write_json(str(tmp_path / "receipt.json"), receipt),
    }


def _run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(argv)
    out, err = capsys.readouterr()
    return code, out, err


def test_exit_0_french_by_default(
    files: dict[str, str], capsys: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LANG", "fr_FR.UTF-8")
    monkeypatch.delenv("LC_ALL", raising=False)
    monkeypatch.delenv("LC_MESSAGES", raising=False)
    code, out, _ = _run(["verify", files["export"], "--log-key", files["key"]], capsys)
    assert code == 0
    assert "réussi" in out and "Tout est vérifié" in out and "mention majoritaire" in out


def test_english_by_locale_and_flag(
    files: dict[str, str], capsys: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LC_ALL", "en_GB.UTF-8")
    code, out, _ = _run(["verify", files["tiles"], "--log-key", files["key"]], capsys)
    assert code == 0 and "Everything checks out." in out
    code, out, _ = _run(
        ["verify", files["export"], "--log-key", files["key"], "--lang", "fr"], capsys
    )
    assert code == 0 and "Tout est vérifié" in out


def test_exit_1_with_index_and_reason(files: dict[str, str], capsys: Any) -> None:
    code, out, _ = _run(["verify", files["bad"], "--log-key", files["key"], "--lang", "en"], capsys)
    assert code == 1
    assert "✘ 2." in out and "FAILED" in out and "the checkpoint covers" in out


def test_json_shape(files: dict[str, str], capsys: Any) -> None:
    code, out, _ = _run(["verify", files["bad"], "--log-key", files["key"], "--json"], capsys)
    doc = json.loads(out)
    assert code == 1 and doc["ok"] is False
    assert [c["number"] for c in doc["checks"]][:11] == list(range(1, 12))
    for c in doc["checks"]:
        assert set(c) >= {"number", "name", "ok", "failures", "note"}
        for f in c["failures"]:
            assert set(f) >= {"index", "reason"}
            assert f["index"] is None or isinstance(f["index"], int)
    assert isinstance(doc["summary"], dict)
    assert not next(c for c in doc["checks"] if c["number"] == 2)["ok"]


@pytest.mark.parametrize(
    "argv",
    [
        ["verify", "/nonexistent/export.json", "--log-key", "k+00000000+AA=="],
        ["verify", "EXPORT", "--log-key", "not-a-key"],
        ["verify", "http://127.0.0.1:9/primaries/demo", "--log-key", "KEY"],
        ["verify", "RECEIPT", "--log-key", "KEY"],
        ["receipt", "EXPORT"],
    ],
)
def test_exit_2_one_clear_line(argv: list[str], files: dict[str, str], capsys: Any) -> None:
    argv = [
        files["export"]
        if a == "EXPORT"
        else files["key"]
        if a == "KEY"
        else files["receipt"]
        if a == "RECEIPT"
        else a
        for a in argv
    ]
    code, out, err = _run(argv, capsys)
    assert code == 2
    assert out == "" and err.count("\n") == 1 and err.startswith("scrutin-audit: ")
    assert "Traceback" not in err


def test_receipt_alone_and_with_log(files: dict[str, str], capsys: Any, scenario: Scenario) -> None:
    code, out, _ = _run(["receipt", files["receipt"], "--lang", "en"], capsys)
    assert code == 0 and "The receipt checks out." in out
    code, out, _ = _run(
        [
            "receipt",
            files["receipt"],
            "--log",
            files["export"],
            "--log-key",
            files["key"],
            "--json",
            "--lang",
            "en",
        ],
        capsys,
    )
    doc = json.loads(out)
    assert code == 0 and doc["ok"]
    names = scenario.candidates
    first = scenario.ballots[0]
    assert doc["summary"]["ballot"] == {
        names[c]: scenario.definition["grades"][g] for c, g in first.items()
    }


def test_receipt_fails_against_another_key_or_log(
    files: dict[str, str], capsys: Any, tmp_path: pathlib.Path
) -> None:
    other = honest_primary()
    key = tmp_path / "other.vkey"
    key.write_text(other.builder.vkey)
    code, out, _ = _run(["receipt", files["receipt"], "--log-key", str(key), "--json"], capsys)
    assert code == 1 and not json.loads(out)["checks"][0]["ok"]
    forked = write_json(str(tmp_path / "other.json"), other.builder.export())
    code, out, _ = _run(["receipt", files["receipt"], "--log", forked, "--json"], capsys)
    doc = json.loads(out)
    assert code == 1 and not doc["checks"][2]["ok"]


def test_receipt_tampered_proof(files: dict[str, str], capsys: Any, tmp_path: pathlib.Path) -> None:
    receipt = json.loads(pathlib.Path(files["receipt"]).read_text())
    receipt["index"] += 1
    path = write_json(str(tmp_path / "r.json"), receipt)
    code, out, _ = _run(["receipt", path, "--json"], capsys)
    assert code == 1
    assert "receipt-not-included" in [f["code"] for f in json.loads(out)["checks"][1]["failures"]]


def test_python_dash_m_subprocess(files: dict[str, str]) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "LANG": "en_US.UTF-8", "LC_ALL": ""}
    ok = subprocess.run(
        [sys.executable, "-m", "audit", "verify", files["export"], "--log-key", files["key"]],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    assert ok.returncode == 0, ok.stderr
    assert "Everything checks out." in ok.stdout
    bad = subprocess.run(
        [sys.executable, "-m", "audit", "verify", files["bad"], "--log-key", files["key"]],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    assert bad.returncode == 1
    broken = subprocess.run(
        [sys.executable, "-m", "audit", "verify", files["key"], "--log-key", files["key"]],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    assert broken.returncode == 2 and "Traceback" not in broken.stderr
