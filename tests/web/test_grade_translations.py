"""A custom grade scale carries its labels in English (the definition's `grade_labels`): the
organiser types them in the primary's form, the service validates them, and English pages —
booth, review, round, primary, results, charts, explanations, open data — show them; without
them, a custom word keeps its French, marked lang="fr"."""

from __future__ import annotations

import re
from typing import Any

import pytest
from starlette.testclient import TestClient

from tests.fixtures.accounts import another_client, post_form, run_db, sign_in
from tests.fixtures.primaries import (
    create_primary_http,
    definition_input,
    log_entries,
    primary_form,
)
from tests.fixtures.rounds import (
    PASSPHRASE,
    cast_over_http,
    open_round_over_http,
    seed_round_primary,
)
from voting.definition import validate_definition
from voting.grades import GradeLabel, grade_labels, grade_scale
from voting.refusals import Refused

FRENCH = ["Nul", "Moyen", "Génial"]
ENGLISH = ["Awful", "So-so", "Great"]
EN = {"accept-language": "en"}
FRENCH_WORD = re.compile(r"\b(Nul|Moyen|Génial)\b")


def test_the_definition_keeps_a_translation_of_every_grade() -> None:
    body = validate_definition(
        definition_input(grades=FRENCH, grade_labels={"en": [" Awful ", "So-so", "Great"]})
    )
    assert body["grade_labels"] == {"en": ENGLISH}
    assert "grade_labels" not in validate_definition(definition_input(grades=FRENCH))
    # Left empty, the member is left out of the log entry: no translation.
    assert "grade_labels" not in validate_definition(definition_input(grade_labels=None))


@pytest.mark.parametrize(
    ("labels", "reason", "field"),
    [
        ({"en": ["Awful", "Great"]}, "grade-labels-count", "grade_labels.en"),
        ({"en": [*ENGLISH, "Sublime"]}, "grade-labels-count", "grade_labels.en"),
        ({"en": ["Awful", "", "Great"]}, "required", "grade_labels.en[1]"),
        ({"en": ["Awful", 3, "Great"]}, "not-text", "grade_labels.en[1]"),
        ({"en": ["Awful", "great", "Great"]}, "duplicate-grade", "grade_labels.en[2]"),
        ({"en": ["Awful", "So\x07-so", "Great"]}, "control-characters", "grade_labels.en[1]"),
        ({"en": ["Awful", "x" * 41, "Great"]}, "too-long", "grade_labels.en[1]"),
        ({"en": "Awful, So-so, Great"}, "grades-not-list", "grade_labels.en"),
        ({"de": ENGLISH}, "unknown-choice", "grade_labels.de"),
        (["Awful", "So-so", "Great"], "grade-labels-not-object", "grade_labels"),
    ],
)
def test_a_bad_translation_is_refused_naming_the_label(
    labels: Any, reason: str, field: str
) -> None:
    with pytest.raises(Refused) as refused:
        validate_definition(definition_input(grades=FRENCH, grade_labels=labels))
    assert (refused.value.reason, refused.value.field) == (reason, field)


def test_pages_prefer_the_organisers_translation() -> None:
    translations = {"en": ENGLISH}
    assert grade_labels(FRENCH, "en", translations) == [GradeLabel(w, "en") for w in ENGLISH]
    assert grade_labels(FRENCH, "fr", translations) == [GradeLabel(w, "fr") for w in FRENCH]
    assert grade_labels(FRENCH, "en") == [GradeLabel(w, "fr") for w in FRENCH]
    assert grade_scale(FRENCH, translations).label(2, "en") == "Great"


def test_the_organiser_types_the_english_labels_in_the_form(
    client: TestClient, organiser_client: TestClient
) -> None:
    english = organiser_client.get("/primaries/new", headers=EN).text
    assert "The same grades in English" in english
    custom = {"grades_preset": "custom", "grades_custom": "\n".join(FRENCH)}
    create_primary_http(organiser_client, "ville", **custom, grades_en="Awful\nSo-so\nGreat\n")
    [(_kind, body)] = log_entries(client, "ville")
    assert body["grades"] == FRENCH and body["grade_labels"] == {"en": ENGLISH}
    page = client.get("/primaries/ville", headers=EN).text
    assert "Awful, So-so, Great" in page and not FRENCH_WORD.search(page)
    assert "Nul, Moyen, Génial" in client.get("/primaries/ville").text
    settings = organiser_client.get("/primaries/ville/admin").text  # shown again to edit
    assert re.search(r'<textarea id="grades_en"[^>]*>Awful\nSo-so\nGreat</textarea>', settings)


def test_a_translation_of_the_wrong_length_is_shown_inline_and_stores_nothing(
    client: TestClient, organiser_client: TestClient
) -> None:
    form = primary_form("essai", grades_preset="custom", grades_custom="\n".join(FRENCH))
    response = post_form(organiser_client, "/primaries/new", {**form, "grades_en": "Awful\nGreat"})
    assert response.status_code == 422
    assert 'aria-errormessage="grades_en-error"' in response.text
    assert "Il faut une traduction par mention : 3" in response.text
    assert "Awful\nGreat</textarea>" in response.text  # the input is kept
    assert run_db(client, "SELECT count(*) AS n FROM primaries")[0]["n"] == 0


def _tallied(client: TestClient, grades: list[str], translations: dict | None) -> str:
    extra = {"grade_labels": translations} if translations else None
    primary = seed_round_primary(client, candidates=2, grades=grades, extra=extra)
    organiser = open_round_over_http(client, primary)
    base = f"/primaries/{primary.slug}"
    voter = another_client(client)
    sign_in(voter, f"reader-{primary.slug}@example.org")
    booth = voter.get(f"{base}/rounds/1/vote", headers=EN).text
    assert "So-so" in booth if translations else '<span lang="fr">Moyen</span>' in booth
    if translations:
        assert not FRENCH_WORD.search(booth)
    for i, ballot in enumerate([[2, 1], [1, 1], [2, 0], [1, 2]]):
        citizen = another_client(client)
        sign_in(citizen, f"v{i}-{primary.slug}@example.org")
        data = {f"grade-{c}": str(g) for c, g in zip(primary.candidates, ballot, strict=True)}
        if i == 0:
            review = post_form(citizen, f"{base}/rounds/1/vote", data, headers=EN).text
            assert ("Great" in review) if translations else ('lang="fr">Génial' in review)
        cast_over_http(citizen, base, 1, data)
    assert post_form(organiser, f"{base}/rounds/1/close", {}).status_code == 303
    revealed = post_form(organiser, f"{base}/rounds/1/reveal", {"passphrase": PASSPHRASE})
    assert revealed.status_code == 303
    return base


def test_english_results_use_the_organisers_english_labels(client: TestClient) -> None:
    base = _tallied(client, FRENCH, {"en": ENGLISH})
    results = client.get(f"{base}/rounds/1/results", headers=EN).text
    assert not FRENCH_WORD.search(results), FRENCH_WORD.search(results)
    legend = results[results.index('class="chart-legend"') :]
    assert "Awful" in legend[: legend.index("</ul>")]  # the chart's legend
    assert '<th scope="col">Awful</th>' in results  # the chart's table alternative
    assert "“Great”" in results or "“So-so”" in results  # the explanation quotes them
    assert "Génial" in client.get(f"{base}/rounds/1/results").text  # French stays French
    round_page = client.get(f"{base}/rounds/1", headers=EN).text
    assert "Awful, So-so, Great" in round_page
    data = client.get(f"{base}/data/results.json").json()
    assert data["rounds"][0]["grade_labels"] == {"en": ENGLISH}
    assert data["rounds"][0]["grades"] == FRENCH


def test_without_a_translation_english_pages_mark_the_french_words(client: TestClient) -> None:
    base = _tallied(client, FRENCH, None)
    results = client.get(f"{base}/rounds/1/results", headers=EN).text
    assert '<th scope="col"><span lang="fr">Nul</span></th>' in results
    assert 'grade “<span lang="fr">Moyen</span>”' in results  # the explanation's quote
    bare = re.sub(r'<span lang="fr">(Nul|Moyen|Génial)</span>', "", results)
    bare = re.sub(r"<(svg|script)\b.*?</\1>", "", bare, flags=re.S)  # aria text aside
    assert not FRENCH_WORD.search(bare.split("<main", 1)[-1]), FRENCH_WORD.search(bare)
    assert "grade_labels" not in client.get(f"{base}/data/results.json").json()["rounds"][0]
