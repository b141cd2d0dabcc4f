"""English is complete: every French source string used by the UI has a translation."""

import ast
import re
from pathlib import Path

import pytest

from web.i18n import catalog, negotiate

WEB = Path(__file__).resolve().parents[2] / "web"
VOTING = WEB.parent / "voting"  # service refusals are French source strings shown in pages
CALL = re.compile(r"""\b_\(\s*(?P<q>["'])(?P<msg>.+?)(?P=q)\s*\)""", re.S)


def _python_strings(path: Path) -> set[str]:
    """Every _("…") in a Python file, messages split over several literals included."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text("utf-8"))):
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and node.func.id == "_"
            and node.args
            and isinstance(node.args[0], ast.Constant)
            and isinstance(node.args[0].value, str)
        ):
            found.add(node.args[0].value)
    return found


def source_strings() -> set[str]:
    found: set[str] = set()
    for path in WEB.rglob("*.html"):
        found.update(match.group("msg") for match in CALL.finditer(path.read_text("utf-8")))
    for path in list(WEB.rglob("*.py")) + list(VOTING.rglob("*.py")):
        found |= _python_strings(path)
    return found


def test_every_ui_string_has_an_english_translation() -> None:
    english = catalog("en")
    missing = sorted(message for message in source_strings() if message not in english)
    assert missing == []


def test_error_messages_are_translated() -> None:
    from web.errors import MESSAGES

    english = catalog("en")
    assert [m for m in MESSAGES.values() if m not in english] == []


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("", "fr"),
        ("en", "en"),
        ("en-US,en;q=0.8", "en"),
        ("de-DE,en;q=0.5,fr;q=0.9", "fr"),
        ("de", "fr"),
        ("en;q=0", "fr"),
        ("en;q=abc,fr;q=0.1", "fr"),
    ],
)
def test_accept_language_negotiation(header: str, expected: str) -> None:
    assert negotiate(header) == expected


def test_colons_follow_each_languages_typography() -> None:
    """French puts a space before a colon, English does not (page titles, labels)."""
    assert catalog("en")[" : "] == ": "
    templates = [p.read_text("utf-8") for p in WEB.rglob("*.html")]
    # A bare " : " between two template expressions would reach English pages unchanged.
    assert not [t for t in templates if re.search(r"(\}\}|\)) : (\{\{|<a)", t)]
