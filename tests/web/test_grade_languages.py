"""Grades are shown in the reader's language: English pages show no French grade word, and a
custom label that has no translation carries its own language (lang="fr")."""

from __future__ import annotations

import re

from starlette.testclient import TestClient

from tests.fixtures.accounts import another_client, post_form, sign_in
from tests.fixtures.rounds import (
    PASSPHRASE,
    RoundPrimary,
    cast_over_http,
    open_round_over_http,
    seed_round_primary,
)
from voting.grades import GradeLabel, grade_labels, grade_scale

FRENCH_WORDS = re.compile(r"À rejeter|Insuffisant|Passable|Assez bien|Très bien|\bBien\b")
EN = {"accept-language": "en"}


def test_preset_words_are_translated_and_custom_ones_keep_their_language() -> None:
    french = [
        "À rejeter",
        "Insuffisant",
        "Passable",
        "Assez bien",
        "Bien",
        "Très bien",
        "Excellent",
    ]
    assert [g.text for g in grade_labels(french, "en")] == [
        "Reject", "Poor", "Fair", "Fairly good", "Good", "Very good", "Excellent",
    ]  # fmt: skip
    assert grade_labels(french, "fr") == [GradeLabel(w, "fr") for w in french]
    assert grade_labels(["Nul", "Bien", "Génial"], "en") == [
        GradeLabel("Nul", "fr"), GradeLabel("Good", "en"), GradeLabel("Génial", "fr"),
    ]  # fmt: skip
    # Translating would make two grades read the same: both stay as written, each marked.
    assert grade_labels(["Bien", "Good"], "en") == [
        GradeLabel("Bien", "fr"),
        GradeLabel("Good", "en"),
    ]
    assert grade_scale(french).label(0, "en") == "Reject"


def _results(client: TestClient, primary: RoundPrimary, ballots: list[list[int]]) -> str:
    organiser = open_round_over_http(client, primary)
    base = f"/primaries/{primary.slug}"
    for i, grades in enumerate(ballots):
        voter = another_client(client)
        sign_in(voter, f"v{i}-{primary.slug}@example.org")
        data = {f"grade-{c}": str(g) for c, g in zip(primary.candidates, grades, strict=True)}
        cast_over_http(voter, base, 1, data)
    assert post_form(organiser, f"{base}/rounds/1/close", {}).status_code == 303
    revealed = post_form(organiser, f"{base}/rounds/1/reveal", {"passphrase": PASSPHRASE})
    assert revealed.status_code == 303
    return base


def test_english_pages_show_no_french_grade_word(client: TestClient) -> None:
    primary = seed_round_primary(client, candidates=3)
    base = f"/primaries/{primary.slug}"
    voter = another_client(client)
    sign_in(voter, "reader@example.org")
    open_round_over_http(client, primary)
    booth = voter.get(f"{base}/rounds/1/vote", headers=EN).text
    assert "Fairly good" in booth and not FRENCH_WORDS.search(booth)
    assert "Assez bien" in voter.get(f"{base}/rounds/1/vote").text  # French stays French
    review = post_form(voter, f"{base}/rounds/1/vote",
                       {f"grade-{c}": "3" for c in primary.candidates}, headers=EN)  # fmt: skip
    assert review.status_code == 200 and "Fairly good" in review.text
    assert not FRENCH_WORDS.search(review.text)
    for path in ("", "/rounds/1"):
        page = client.get(base + path, headers=EN).text
        assert "Reject, Poor, Fair" in page and not FRENCH_WORDS.search(page), path


def test_english_results_charts_and_explanations_use_english_grades(client: TestClient) -> None:
    primary = seed_round_primary(client, candidates=2)
    # Same majority grade ("Bien"), decided by the next median: the explanation quotes grades.
    base = _results(client, primary, [[4, 4], [5, 3], [4, 4], [2, 4]])
    english = client.get(f"{base}/rounds/1/results", headers=EN).text
    assert "Good" in english and not FRENCH_WORDS.search(english)
    assert "share the majority grade “Good”" in english
    french = client.get(f"{base}/rounds/1/results").text
    assert "« Bien »" in french


def test_custom_labels_carry_their_language(client: TestClient) -> None:
    primary = seed_round_primary(client, candidates=2, grades=["Nul", "Bien", "Génial"])
    base = _results(client, primary, [[2, 1], [1, 0], [2, 2]])
    results = client.get(f"{base}/rounds/1/results", headers=EN).text
    assert '<span lang="fr">Génial</span>' in results and "Good" in results
    legend = results[results.index('class="chart-legend"') :]
    assert '<span lang="fr">Nul</span>' in legend[: legend.index("</ul>")]  # the chart's legend
    assert '<th scope="col"><span lang="fr">Nul</span></th>' in results
    home = client.get(base, headers=EN).text
    assert '<span lang="fr">Nul</span>, Good, <span lang="fr">Génial</span>' in home
    # On French pages the labels are in the page's language: no attribute needed.
    assert "Nul, Bien, Génial" in client.get(base).text
