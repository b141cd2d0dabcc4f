"""Citizens are told by mail what happened: a candidacy accepted or refused (with the public
reason), qualified (confirm before round 1), a round opened, results out, a supported candidate
withdrew; in their language, only the kinds they chose, each with a one-click unsubscribe
(RFC 8058) that works without signing in."""

from __future__ import annotations

import email
import email.policy
import re
from email.message import EmailMessage
from urllib.parse import urlsplit

from starlette.testclient import TestClient

from tests.fixtures.accounts import another_client, post_form, run_db
from tests.fixtures.candidacies import citizen, declare
from tests.fixtures.primaries import create_primary_http
from tests.fixtures.rounds import open_round_over_http, seed_round_primary
from tests.fixtures.waiting import wait_until
from voting.mail import outbox_folder

EN = {"Accept-Language": "en"}


def mails_to(client: TestClient, to: str) -> list[EmailMessage]:
    """Every mail queued for `to`, as delivered into the outbox, oldest first."""
    rows = run_db(client, "SELECT id FROM mail_queue WHERE recipient = $1 ORDER BY id", to)
    folder = outbox_folder(client.app.state.settings.data_dir)  # type: ignore[attr-defined]
    found = []
    for row in rows:
        path = folder / f"{row['id']:010d}.eml"
        wait_until(path.exists, f"mail {row['id']} to {to} in the outbox")
        found.append(email.message_from_bytes(path.read_bytes(), policy=email.policy.default))
    return found  # type: ignore[return-value]


def notifications_to(client: TestClient, to: str) -> list[EmailMessage]:
    return [m for m in mails_to(client, to) if m["List-Unsubscribe"]]


def unsubscribe_url(message: EmailMessage) -> str:
    header = str(message["List-Unsubscribe"])
    assert header.startswith("<") and header.endswith(">"), header
    parts = urlsplit(header[1:-1])
    return f"{parts.path}?{parts.query}"


def test_a_candidate_hears_of_acceptance_and_refusal_with_the_reason(
    client: TestClient, organiser_client: TestClient
) -> None:
    create_primary_http(organiser_client)
    lea = citizen(client, "lea@example.org")
    accepted = declare(lea, name="Léa Dupont")
    post_form(organiser_client, f"/primaries/ville/admin/candidacies/{accepted}/accept")
    [mail] = notifications_to(client, "lea@example.org")
    assert "Léa Dupont" in str(mail["Subject"]) and "acceptée" in str(mail["Subject"])
    body = mail.get_content()  # type: ignore[attr-defined]
    assert f"/primaries/ville/candidates/{accepted}" in body
    # RFC 8058: an https/http URI in List-Unsubscribe and the one-click POST header.
    assert mail["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert unsubscribe_url(mail) in body

    paul = another_client(client)
    paul.get("/lang/en?next=/")
    from tests.fixtures.accounts import sign_in

    sign_in(paul, "paul@example.org")
    refused = declare(paul, name="Paul Martin")
    reason = "Le programme ne respecte pas la charte."
    response = post_form(
        organiser_client, f"/primaries/ville/admin/candidacies/{refused}/reject",
        {"reason": reason},
    )  # fmt: skip
    assert response.status_code == 303, response.text
    [mail] = notifications_to(client, "paul@example.org")
    # Paul reads the site in English: his mail is in English, with the public reason.
    assert str(mail["Subject"]).startswith("Your candidacy “Paul Martin” is refused")
    assert f"Public reason: {reason}" in mail.get_content()  # type: ignore[attr-defined]


def test_a_qualified_candidate_is_told_the_deadline_to_confirm(
    client: TestClient, organiser_client: TestClient
) -> None:
    create_primary_http(organiser_client, threshold="1")
    cid = declare(citizen(client, "lea@example.org"))
    post_form(organiser_client, f"/primaries/ville/admin/candidacies/{cid}/accept")
    fan = citizen(client, "fan@example.org")
    assert post_form(fan, f"/primaries/ville/candidates/{cid}/support").status_code == 303
    subjects = [str(m["Subject"]) for m in notifications_to(client, "lea@example.org")]
    assert len(subjects) == 2 and "qualifiée" in subjects[1], subjects
    [start] = run_db(
        client,
        "SELECT p->>'start' AS start FROM primaries, jsonb_array_elements(definition->'phases') p"
        " WHERE slug = 'ville' AND p->>'name' = 'round-1'",
    )
    day, month, year = start["start"][8:10], start["start"][5:7], start["start"][:4]
    assert f"confirmez-la avant le {day}/{month}/{year}" in subjects[1]


def test_supporters_hear_that_their_candidate_withdrew(
    client: TestClient, organiser_client: TestClient
) -> None:
    create_primary_http(organiser_client, threshold="5")
    lea = citizen(client, "lea@example.org")
    cid = declare(lea, name="Léa Dupont")
    post_form(organiser_client, f"/primaries/ville/admin/candidacies/{cid}/accept")
    fan = citizen(client, "fan@example.org")
    assert post_form(fan, f"/primaries/ville/candidates/{cid}/support").status_code == 303
    assert notifications_to(client, "fan@example.org") == []
    withdraw = post_form(
        lea, f"/primaries/ville/candidates/{cid}/withdraw", {"reason": "Raisons familiales"}
    )
    assert withdraw.status_code == 303
    [mail] = notifications_to(client, "fan@example.org")
    assert "Léa Dupont" in str(mail["Subject"]) and "retiré" in str(mail["Subject"])
    body = mail.get_content()  # type: ignore[attr-defined]
    assert "Raisons familiales" in body and "/primaries/ville/candidates" in body


def test_round_opening_mail_and_one_click_unsubscribe(client: TestClient) -> None:
    primary = seed_round_primary(client, candidates=2)
    open_round_over_http(client, primary)
    candidate = f"cand-0-{primary.slug}@example.org"
    [mail] = notifications_to(client, candidate)
    assert str(mail["Subject"]).startswith("Le tour 1 est ouvert")
    assert f"/primaries/{primary.slug}/rounds/1/vote" in mail.get_content()  # type: ignore[attr-defined]

    # Opening the link shows a button and changes nothing (mail scanners open links).
    url = unsubscribe_url(mail)
    stranger = another_client(client)
    page = stranger.get(url)
    assert page.status_code == 200 and "Me désabonner" in page.text
    [row] = run_db(client, "SELECT mail_opt_out FROM accounts WHERE email = $1", candidate)
    assert row["mail_opt_out"] == []
    # The mail client's one-click POST, without session or CSRF token, unsubscribes.
    done = stranger.post(url, data={"List-Unsubscribe": "One-Click"})
    assert done.status_code == 200, done.text
    assert "vous ne recevrez plus de courriels" in done.text
    [row] = run_db(client, "SELECT mail_opt_out FROM accounts WHERE email = $1", candidate)
    assert row["mail_opt_out"] == ["rounds"]
    # A link whose signature was altered does nothing.
    forged = re.sub(r"[0-9a-f](?=$)", lambda m: "0" if m.group() != "0" else "1", url)
    assert stranger.post(forged, data={"List-Unsubscribe": "One-Click"}).status_code == 400


def test_citizens_choose_their_mail_and_its_language(
    client: TestClient, organiser_client: TestClient
) -> None:
    create_primary_http(organiser_client, threshold="5")
    lea = citizen(client, "lea@example.org")
    page = lea.get("/account")
    assert 'href="/account/mail"' in page.text
    form = lea.get("/account/mail")
    assert form.status_code == 200
    assert form.text.count('type="checkbox"') == 4 and form.text.count(" checked") == 5
    saved = post_form(lea, "/account/mail", {"kinds": ["rounds", "results"], "lang": "en"})
    assert saved.status_code == 303
    english = lea.get("/account/mail", headers=EN).text
    assert 'value="candidacy" checked' not in english and 'value="rounds" checked' in english
    cid = declare(lea)
    post_form(organiser_client, f"/primaries/ville/admin/candidacies/{cid}/accept")
    assert notifications_to(client, "lea@example.org") == []  # she turned candidacy news off


def test_voters_and_candidates_hear_that_results_are_out(client: TestClient) -> None:
    from tests.fixtures.accounts import sign_in
    from tests.fixtures.rounds import PASSPHRASE, cast_over_http

    primary = seed_round_primary(client, candidates=2)
    organiser = open_round_over_http(client, primary)
    base = f"/primaries/{primary.slug}"
    voter = another_client(client)
    voter.get("/lang/en?next=/")
    sign_in(voter, f"v-{primary.slug}@example.org")
    cast_over_http(voter, base, 1, {f"grade-{c}": "4" for c in primary.candidates})
    assert post_form(organiser, f"{base}/rounds/1/close", {}).status_code == 303
    revealed = post_form(organiser, f"{base}/rounds/1/reveal", {"passphrase": PASSPHRASE})
    assert revealed.status_code == 303
    [mail] = notifications_to(client, f"v-{primary.slug}@example.org")
    assert str(mail["Subject"]).startswith("Results of round 1")
    assert f"{base}/rounds/1/results" in mail.get_content()  # type: ignore[attr-defined]
    candidate = [
        str(m["Subject"]) for m in notifications_to(client, f"cand-1-{primary.slug}@example.org")
    ]
    assert candidate[-1].startswith("Résultats du tour 1"), candidate
