"""Primary pages over HTTP: creation, settings (revisions), moderation, permissions."""

from __future__ import annotations

import pytest
from starlette.testclient import TestClient

from tests.fixtures.accounts import another_client, post_form, run_db, sign_in
from tests.fixtures.primaries import create_primary_http, local, log_entries, primary_form


def test_an_organiser_creates_a_primary_with_its_definition_entry(
    client: TestClient, organiser_client: TestClient
) -> None:
    page = organiser_client.get("/primaries/new")
    assert page.status_code == 200 and 'name="csrf_token"' in page.text
    create_primary_http(organiser_client)
    home = client.get("/primaries/ville")
    assert home.status_code == 200
    assert "Primaire de la ville" in home.text and "Calendrier" in home.text
    assert "Candidatures" in home.text and 'aria-current="step"' in home.text
    entries = log_entries(client, "ville")
    assert [kind for kind, _ in entries] == ["definition"]
    body = entries[0][1]
    assert body["revision"] == 1 and body["slug"] == "ville" and body["threshold"] == 2
    assert body["grades"][0] == "À rejeter" and len(body["grades"]) == 7
    assert [p["name"] for p in body["phases"]] == ["candidacies", "supports", "round-1"]
    assert body["phases"][0]["start"].endswith(":00Z")
    assert client.get("/primaries/ville/log/checkpoint").status_code in (200, 404)
    english = client.get("/primaries/ville?lang=en")
    assert "Timeline" in english.text


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        ({"slug": "Pas Bon"}, "slug", "Identifiant invalide"),
        ({"slug": "new"}, "slug", "Identifiant invalide"),
        ({"title": ""}, "title", "obligatoire"),
        ({"title": "x" * 300}, "title", "trop long"),
        ({"threshold": "beaucoup"}, "threshold", "nombre entier"),
        ({"threshold": "-4"}, "threshold", "compris entre"),
        ({"supports_end": "demain"}, "supports_end", "Date invalide"),
        ({"supports_end": local(-5)}, "supports_end", "La fin doit suivre le début"),
        ({"round-1_start": local(5)}, "round-1_start", "doit commencer après"),
        ({"grades_preset": "custom", "grades_custom": "Bien"}, "grades_custom", "entre 2"),
        ({"rule": "<script>alert(1)</script>"}, "rule", "Valeur inconnue"),
        ({"description": "d" * 10_001}, "description", "trop long"),
    ],
)
def test_bad_primary_forms_show_an_inline_error_keep_the_input_and_store_nothing(
    client: TestClient, organiser_client: TestClient, changes: dict, field: str, message: str
) -> None:
    form = {**primary_form("essai"), **changes}
    response = post_form(organiser_client, "/primaries/new", form)
    assert response.status_code in (400, 409, 413, 422), response.status_code
    assert message in response.text
    assert f'aria-errormessage="{field}-error"' in response.text or field in ("rule",)
    assert 'value="Primaire de la ville"' in response.text or field == "title"
    assert "<script>alert(1)</script>" not in response.text
    assert run_db(client, "SELECT count(*) AS n FROM primaries")[0]["n"] == 0


def test_script_in_the_title_is_shown_as_text(
    client: TestClient, organiser_client: TestClient
) -> None:
    create_primary_http(organiser_client, "xss", title="<script>alert('x')</script>")
    page = client.get("/primaries/xss")
    assert "<script>alert" not in page.text and "&lt;script&gt;" in page.text


def test_organiser_pages_are_refused_to_citizens_and_visitors(
    client: TestClient, organiser_client: TestClient, citizen_client: TestClient
) -> None:
    create_primary_http(organiser_client)
    for url in ("/primaries/new", "/primaries/ville/admin", "/primaries/ville/admin/candidacies"):
        assert citizen_client.get(url).status_code == 403
        visitor = client.get(url, follow_redirects=False)
        assert visitor.status_code == 303 and visitor.headers["location"].startswith("/signin")
    assert post_form(citizen_client, "/primaries/new", primary_form("autre")).status_code == 403
    refused = post_form(citizen_client, "/primaries/ville/admin", primary_form("ville"))
    assert refused.status_code == 403
    assert post_form(citizen_client, "/primaries/ville/admin/close-supports").status_code == 403
    assert len(log_entries(client, "ville")) == 1
    no_token = citizen_client.post("/primaries/new", data=primary_form("autre"))
    assert no_token.status_code == 403


def test_settings_append_a_new_revision_and_freeze_once_voting_started(
    client: TestClient, organiser_client: TestClient
) -> None:
    create_primary_http(organiser_client)
    settings = organiser_client.get("/primaries/ville/admin")
    assert settings.status_code == 200 and 'value="Primaire de la ville"' in settings.text
    changed = post_form(
        organiser_client, "/primaries/ville/admin",
        primary_form("ville", threshold="5", grades_preset="laprimaire-6"),
    )  # fmt: skip
    assert changed.status_code == 303
    entries = log_entries(client, "ville")
    assert [(b["revision"], b["threshold"], len(b["grades"])) for _, b in entries] == [
        (1, 2, 7),
        (2, 5, 6),
    ]
    run_db(client, "UPDATE primaries SET voting_started = true WHERE slug = 'ville'")
    frozen = post_form(organiser_client, "/primaries/ville/admin", primary_form(threshold="9"))
    assert frozen.status_code == 409 and "Le vote a commencé" in frozen.text
    assert len(log_entries(client, "ville")) == 2


def test_saving_the_settings_keeps_every_round_of_the_calendar(
    client: TestClient, organiser_client: TestClient
) -> None:
    """A calendar with a third round (the API allows up to round-99): the settings form shows
    it, and saving the form for another change keeps it."""
    three_rounds = {
        "round-2_start": local(29), "round-2_end": local(35),
        "round-3_start": local(36), "round-3_end": local(42),
    }  # fmt: skip
    create_primary_http(organiser_client, **three_rounds)
    [(_, first)] = log_entries(client, "ville")
    assert [p["name"] for p in first["phases"]][-1] == "round-3"
    form = organiser_client.get("/primaries/ville/admin").text
    assert 'name="round-3_start"' in form and "Tour 3 — début" in form
    assert '<th scope="row">Tour 3</th>' in client.get("/primaries/ville").text
    saved = post_form(
        organiser_client, "/primaries/ville/admin",
        primary_form("ville", title="Nouveau titre", **three_rounds),
    )  # fmt: skip
    assert saved.status_code == 303
    revised = log_entries(client, "ville")[-1][1]
    assert revised["title"] == "Nouveau titre" and revised["phases"] == first["phases"]


def test_moderation_queue_accept_reject_exclude_with_public_reasons(
    client: TestClient, organiser_client: TestClient
) -> None:
    create_primary_http(organiser_client)
    ids = []
    for n, email in enumerate(("a@example.org", "b@example.org", "c@example.org")):
        browser = another_client(client)
        sign_in(browser, email)
        response = post_form(
            browser, "/primaries/ville/declare",
            {"name": f"Candidat {n}", "bio": "Bio", "programme": "Prog", "charter": "on",
             "submit_now": "1"},
        )  # fmt: skip
        assert response.status_code == 303, response.text
        ids.append(response.headers["location"].rsplit("/", 1)[1])
    queue = organiser_client.get("/primaries/ville/admin/candidacies")
    assert queue.status_code == 200 and all(f"Candidat {n}" in queue.text for n in range(3))
    base = "/primaries/ville/admin/candidacies"
    assert post_form(organiser_client, f"{base}/{ids[0]}/accept").status_code == 303
    no_reason = post_form(organiser_client, f"{base}/{ids[1]}/reject", {"reason": ""})
    assert no_reason.status_code == 422 and "obligatoire" in no_reason.text
    assert post_form(organiser_client, f"{base}/{ids[1]}/reject", {"reason": "Hors charte"}
                     ).status_code == 303  # fmt: skip
    assert post_form(organiser_client, f"{base}/{ids[2]}/accept").status_code == 303
    assert post_form(organiser_client, f"{base}/{ids[2]}/exclude", {"reason": "Fraude"}
                     ).status_code == 303  # fmt: skip
    again = post_form(organiser_client, f"{base}/{ids[1]}/accept")
    assert again.status_code == 409
    # The refusal is shown beside the closed candidacy it concerns.
    assert again.text.count('role="alert"') == 1
    # The refusal and its reason are public; the content moderation refused is not.
    rejected = client.get(f"/primaries/ville/candidates/{ids[1]}")
    assert rejected.status_code == 200 and "Hors charte" in rejected.text
    assert "Candidature non publiée" in rejected.text and "Candidat 1" not in rejected.text
    actions = [(b["candidate"], b["action"], b["reason"])
               for k, b in log_entries(client, "ville") if k == "candidacy"]  # fmt: skip
    assert actions == [
        (ids[0], "submitted", ""), (ids[1], "submitted", ""), (ids[2], "submitted", ""),
        (ids[0], "published", ""), (ids[1], "rejected", "Hors charte"),
        (ids[2], "published", ""), (ids[2], "excluded", "Fraude"),
    ]  # fmt: skip


def test_closing_the_supports_phase_is_refused_before_its_end(
    client: TestClient, organiser_client: TestClient
) -> None:
    create_primary_http(organiser_client, qualification="phase-end")
    early = post_form(organiser_client, "/primaries/ville/admin/close-supports")
    assert early.status_code == 409
    assert len(log_entries(client, "ville")) == 1
