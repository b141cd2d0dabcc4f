"""Every domain refusal has a reason code, a French message, its English translation and an HTTP
status in web/errors.py's one table; the API answers a refusal with that status, the message in
the asker's language and the field it concerns."""

from __future__ import annotations

import ast
import re
import string
from pathlib import Path

from starlette.testclient import TestClient

from tests.fixtures.accounts import api_request
from tests.fixtures.primaries import definition_input
from voting.eligibility import REASONS
from voting.log import EntryTooLarge
from voting.refusals import MESSAGES, Refused
from web.errors import REFUSAL_STATUSES
from web.i18n import catalog

ROOT = Path(__file__).resolve().parents[2]
KEBAB = re.compile(r"[a-z0-9]+(-[a-z0-9]+)*")


def _placeholders(message: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(message) if name}


def _raised_reasons() -> dict[str, str]:
    """reason → where, for every `Refused("literal", …)` in voting/ and web/."""
    found: dict[str, str] = {}
    for path in sorted([*ROOT.glob("voting/**/*.py"), *ROOT.glob("web/**/*.py")]):
        for node in ast.walk(ast.parse(path.read_text("utf-8"))):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Name)
                and node.func.id == "Refused"
                and node.args
                and isinstance(node.args[0], ast.Constant)
                and isinstance(node.args[0].value, str)
            ):
                found[node.args[0].value] = f"{path.relative_to(ROOT)}:{node.lineno}"
    return found


def test_every_reason_has_a_status_and_a_message_in_french_and_english() -> None:
    english = catalog("en")
    assert [r for r in MESSAGES if not KEBAB.fullmatch(r)] == []
    assert sorted(set(MESSAGES) - set(REFUSAL_STATUSES)) == []  # a reason without a status
    assert sorted(set(REFUSAL_STATUSES) - set(MESSAGES)) == []  # a status for no reason
    assert {s for s in REFUSAL_STATUSES.values() if not 400 <= s < 500} == set()
    untranslated = [r for r, m in MESSAGES.items() if m not in english]
    assert untranslated == []
    # The English text fills the same placeholders as the French one.
    mismatched = [r for r, m in MESSAGES.items() if _placeholders(m) != _placeholders(english[m])]
    assert mismatched == []


def test_every_reason_raised_exists() -> None:
    unknown = {r: where for r, where in _raised_reasons().items() if r not in MESSAGES}
    assert unknown == {}
    # Reasons built from another table: eligibility's and the log entry sizes'.
    built = [f"ineligible-{r}" for r in REASONS if r != "eligible"]
    built += [reason for reason, _ in EntryTooLarge.REASONS.values()]
    assert [r for r in built if r not in MESSAGES] == []


def test_a_refusal_fills_its_message_in_each_language() -> None:
    refused = Refused("support-cap", cap=3)
    assert str(refused) == "Vous avez déjà donné vos 3 soutiens dans cette primaire."
    assert refused.translated(lambda m: catalog("en").get(m, m)).count("3") == 1
    assert Refused("phase-not-object").translated(str) == MESSAGES["phase-not-object"]


def test_the_api_answers_a_refusal_with_its_status_message_and_field(
    organiser_client: TestClient,
) -> None:
    first = api_request(organiser_client, "POST", "/api/primaries", definition_input("seule"))
    assert first.status_code == 201, first.text
    again = api_request(organiser_client, "POST", "/api/primaries", definition_input("seule"))
    assert again.status_code == REFUSAL_STATUSES["slug-taken"] == 409
    assert again.json()["error"] == {
        "status": 409,
        "message": MESSAGES["slug-taken"],
        "field": "slug",
    }
    english = api_request(
        organiser_client,
        "POST",
        "/api/primaries",
        definition_input("seule"),
        headers={"accept-language": "en"},
    )
    assert english.json()["error"]["message"] == catalog("en")[MESSAGES["slug-taken"]]
