"""The type checker guards crypto/, voting/ and audit/: the test command runs it, strict there.

mypy itself runs in ./scripts/test (a full run takes a while); these tests keep its
configuration from being loosened without anyone noticing.
"""

from __future__ import annotations

import fnmatch
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
STRICT_PACKAGES = ("crypto", "voting", "audit")


def _mypy_config() -> dict:
    with open(ROOT / "pyproject.toml", "rb") as fh:
        return tomllib.load(fh)["tool"]["mypy"]


def test_the_test_command_runs_mypy_after_the_style_checks_and_before_the_tests() -> None:
    lines = [
        line.split("#")[0].strip() for line in (ROOT / "scripts" / "test").read_text().splitlines()
    ]
    commands = [line for line in lines if line]
    mypy = commands.index("mypy")
    assert commands.index("ruff format --check .") < mypy
    assert mypy < next(i for i, c in enumerate(commands) if "pytest" in c)


def test_crypto_voting_and_audit_are_checked_strictly() -> None:
    config = _mypy_config()
    assert config["strict"] is True
    for package in STRICT_PACKAGES:
        assert package in config["files"]
    # No override loosens a whole package (a single module's, with its reason, would show).
    for override in config.get("overrides", []):
        patterns = override["module"]
        patterns = [patterns] if isinstance(patterns, str) else patterns
        for package in STRICT_PACKAGES:
            for module in (package, f"{package}.any_module", f"{package}.log.any_module"):
                assert not any(fnmatch.fnmatchcase(module, p) for p in patterns), (
                    f"an override applies to all of {package}/: {override}"
                )
