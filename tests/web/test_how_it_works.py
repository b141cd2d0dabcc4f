"""Majority judgment explained to newcomers: the "how it works" page, the links that lead to it,
the rules in plain words and the home page cards that say where each primary stands."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

from starlette.testclient import TestClient

from tests.fixtures.primaries import create_primary_http

ROOT = Path(__file__).resolve().parents[2]
FRENCH_GRADES = ("À rejeter", "Insuffisant", "Passable", "Assez bien", "Très bien")


def _text(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html)).replace("&#39;", "'")


def test_how_it_works_explains_majority_judgment_with_a_worked_example(client: TestClient) -> None:
    page = client.get("/how-it-works")
    assert page.status_code == 200
    text = _text(page.text)
    assert "Comment ça marche" in text
    assert "mention majoritaire" in text
    # The example's numbers, read off its merit profiles: 7 of 10 give Alice "Bien" or better.
    assert "Alice : 7 votants sur 10 donnent « Bien » ou mieux" in text
    assert "Chloé : 7 votants sur 10 donnent « Passable » ou mieux" in text
    assert "Alice en a 4 au-dessus de « Bien » et 3 en dessous" in text
    assert "Bruno en a 2 au-dessus et 4 en dessous" in text
    # Ranked by the engine itself, one chart per candidate, and how to read them.
    assert text.index("1. Alice — Bien") < text.index("2. Bruno — Bien") < text.index("3. Chloé")
    assert page.text.count('class="merit-chart"') == 3
    assert "Le trait pointillé vertical marque le milieu" in text


def test_how_it_works_gives_the_install_command_of_the_tool_pyproject_declares(
    client: TestClient,
) -> None:
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    assert "scrutin-audit" in scripts
    text = _text(client.get("/how-it-works").text)
    assert ".venv/bin/pip install ." in text
    assert "scrutin-audit verify http://testserver/primaries/SLUG --log-key" in text
    assert "scrutin-audit receipt receipt.json --log http://testserver/primaries/SLUG" in text


def test_how_it_works_in_english_has_no_french_grade_words(client: TestClient) -> None:
    page = client.get("/how-it-works", headers={"Accept-Language": "en"})
    text = _text(page.text)
    assert "How it works" in text
    assert "Alice: 7 voters out of 10 give “Good” or better" in text
    assert "share the majority grade “Good”" in text
    for word in FRENCH_GRADES:
        assert word not in text, word


def test_home_booth_and_results_link_to_the_explanation(client: TestClient) -> None:
    assert 'href="/how-it-works"' in client.get("/").text
    booth = (ROOT / "web/templates/rounds/booth.html").read_text()
    results = (ROOT / "web/templates/rounds/results.html").read_text()
    assert 'href="/how-it-works#jugement"' in booth
    assert 'href="/how-it-works#graphique"' in results
    assert 'href="/how-it-works#verifier"' in results


def test_home_card_shows_the_phase_its_end_and_the_action_it_invites(
    organiser_client: TestClient,
) -> None:
    create_primary_http(organiser_client, "ville")
    home = organiser_client.get("/")
    card = home.text[home.text.index('href="/primaries/ville"') :]
    text = _text(card)
    assert "Phase en cours : Candidatures, Soutiens — jusqu’au" in text
    assert "Prochaine étape : Premier tour" in text
    assert 'href="/primaries/ville/declare"' in card
    assert "Déclarer ma candidature" in text
    english = _text(organiser_client.get("/", headers={"Accept-Language": "en"}).text)
    assert "Next step:" in english


def test_rules_block_speaks_plain_words(organiser_client: TestClient) -> None:
    create_primary_http(organiser_client, "ville")
    page = _text(organiser_client.get("/primaries/ville").text)
    assert "Valeur majoritaire" not in page
    assert "figée" not in page
    assert "la meilleure mention qu’une majorité des votants leur donne, ou mieux" in page
    assert "En cas d’égalité : on retire une à une les mentions du milieu" in page
    assert 'href="/how-it-works"' in organiser_client.get("/primaries/ville").text


def test_observers_page_says_how_to_install_scrutin_audit(organiser_client: TestClient) -> None:
    create_primary_http(organiser_client, "ville")
    text = _text(organiser_client.get("/primaries/ville/observers").text)
    assert ".venv/bin/pip install ." in text
    assert text.index("pip install .") < text.index("scrutin-audit verify")


def test_readme_shows_the_screenshots_the_browser_tests_make() -> None:
    readme = (ROOT / "README.md").read_text()
    shown = re.findall(r"\]\((docs/screenshots/[^)]+\.png)\)", readme)
    names = {Path(path).name for path in shown}
    assert {"home-1280.png", "how-it-works-1280.png", "booth-1280.png", "booth-390.png"} <= names
    assert "results-1280.png" in names
    for path in shown:
        assert (ROOT / path).is_file(), path
