"""Eligibility pages: the organiser's import and approval queue, the citizen's request."""

from __future__ import annotations

from starlette.testclient import TestClient

from tests.fixtures.accounts import another_client, post_form, run_db, sign_in


def _primary(client: TestClient, policy: str, slug: str = "p") -> None:
    run_db(
        client,
        "INSERT INTO primaries (slug, title, definition) VALUES ($1, 'Primaire', $2::jsonb)",
        slug,
        {"eligibility": policy},  # the app's pool encodes JSON itself
    )


def test_admin_pages_are_for_organisers_only(client: TestClient) -> None:
    _primary(client, "allow-list")
    anonymous = client.get("/primaries/p/admin/eligibility", follow_redirects=False)
    assert anonymous.status_code == 303
    assert anonymous.headers["location"] == "/signin?next=/primaries/p/admin/eligibility"
    sign_in(client, "citizen@example.org")
    assert client.get("/primaries/p/admin/eligibility").status_code == 403
    forbidden = post_form(
        client, "/primaries/p/admin/eligibility/import", {"entries": "a@example.org"}
    )
    assert forbidden.status_code == 403
    assert run_db(client, "SELECT count(*) AS n FROM eligibility_entries")[0]["n"] == 0


def test_unknown_primary_is_404(organiser_client: TestClient) -> None:
    assert organiser_client.get("/primaries/nope/admin/eligibility").status_code == 404


def test_csv_upload_and_errors_with_line_numbers(
    client: TestClient, organiser_client: TestClient
) -> None:
    _primary(client, "allow-list")
    good = post_form(
        organiser_client,
        "/primaries/p/admin/eligibility/import",
        files={"file": ("liste.csv", b"email\na@example.org\nFR-12\n", "text/csv")},
    )
    assert good.status_code == 303
    page = organiser_client.get("/primaries/p/admin/eligibility")
    assert "Liste importée." in page.text
    bad = post_form(
        organiser_client,
        "/primaries/p/admin/eligibility/import",
        {"entries": "b@example.org\npas@valide@\n<b>x</b>"},
    )
    assert bad.status_code == 400
    assert "Ligne 2" in bad.text and "Ligne 3" in bad.text
    assert "&lt;b&gt;x&lt;/b&gt;" in bad.text  # the textarea keeps what was typed, escaped
    values = run_db(client, "SELECT value FROM eligibility_entries ORDER BY value")
    assert [row["value"] for row in values] == ["FR-12", "a@example.org"]


def test_citizen_on_the_list_by_voter_number(
    client: TestClient, organiser_client: TestClient
) -> None:
    _primary(client, "allow-list")
    post_form(organiser_client, "/primaries/p/admin/eligibility/import", {"entries": "FR-77"})
    sign_in(client, "c@example.org")
    assert "ne figure pas sur la liste" in client.get("/primaries/p/eligibility").text
    post_form(client, "/account", {"display_name": "C", "voter_number": "FR-77"})
    assert "Vous pouvez participer" in client.get("/primaries/p/eligibility").text


def test_approval_request_and_decision(client: TestClient, organiser_client: TestClient) -> None:
    _primary(client, "approval")
    sign_in(client, "c@example.org", name="Camille")
    page = client.get("/primaries/p/eligibility")
    assert "faites une demande" in page.text
    assert post_form(client, "/primaries/p/eligibility", {}).status_code == 303
    assert "en attente" in client.get("/primaries/p/eligibility").text
    queue = organiser_client.get("/primaries/p/admin/eligibility")
    assert "c@example.org" in queue.text and "Camille" in queue.text
    account_id = run_db(client, "SELECT id FROM accounts WHERE email = 'c@example.org'")[0]["id"]
    decided = post_form(
        organiser_client,
        "/primaries/p/admin/eligibility/decide",
        {"account_id": str(account_id), "decision": "approve"},
    )
    assert decided.status_code == 303
    assert "Vous pouvez participer" in client.get("/primaries/p/eligibility").text
    for bad in ({"account_id": "nope", "decision": "approve"}, {"account_id": str(account_id)}):
        response = post_form(organiser_client, "/primaries/p/admin/eligibility/decide", bad)
        assert response.status_code == 400


def test_eligibility_page_in_english(client: TestClient) -> None:
    _primary(client, "approval")
    other = another_client(client)
    sign_in(other, "en@example.org")
    page = other.get("/primaries/p/eligibility", headers={"Accept-Language": "en"})
    assert "send a request" in page.text


def test_asking_for_approval_where_the_policy_is_not_approval_says_why(
    client: TestClient,
) -> None:
    _primary(client, "email")
    sign_in(client, "asker@example.org")
    refused = post_form(client, "/primaries/p/eligibility", {})
    assert refused.status_code == 400 and "Puis-je participer" in refused.text
    assert run_db(client, "SELECT count(*) AS n FROM eligibility_requests")[0]["n"] == 0


def test_an_allow_list_of_100000_lines_can_be_imported(
    client: TestClient, organiser_client: TestClient
) -> None:
    """The documented maximum fits in one upload (the general 2 MiB body limit did not)."""
    _primary(client, "allow-list")
    lines = "".join(f"electeur.{n:06d}@commune-exemple.example.org\n" for n in range(100_000))
    assert len(lines) > 4 * 1024 * 1024
    done = post_form(
        organiser_client,
        "/primaries/p/admin/eligibility/import",
        files={"file": ("liste.csv", lines.encode(), "text/csv")},
    )
    assert done.status_code == 303, done.text[:500]
    count = run_db(client, "SELECT count(*) AS n FROM eligibility_entries")[0]["n"]
    assert count == 100_000
    # Elsewhere the general limit still holds.
    big = post_form(client, "/account", {"display_name": "x" * (3 * 1024 * 1024)})
    assert big.status_code == 413
