"""Candidate pages over HTTP: declare, photo, moderation outcome, supports, qualification,
confirmation, frozen edits, the visitor's random order and search."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path
from urllib.parse import unquote

from starlette.testclient import TestClient

from tests.conftest import REPO_ROOT
from tests.fixtures.accounts import another_client, post_form, run_db
from tests.fixtures.candidacies import PNG, citizen, declare
from tests.fixtures.primaries import create_primary_http, log_entries


def test_declare_publish_support_qualify_confirm(
    client: TestClient, organiser_client: TestClient, citizen_client: TestClient
) -> None:
    create_primary_http(organiser_client, threshold="2")
    cid = declare(citizen_client)
    page = citizen_client.get(f"/primaries/ville/candidates/{cid}")
    assert page.status_code == 200 and "En attente de modération" in page.text
    assert client.get(f"/primaries/ville/candidates/{cid}").status_code == 404  # not public yet
    assert post_form(organiser_client, f"/primaries/ville/admin/candidacies/{cid}/accept"
                     ).status_code == 303  # fmt: skip

    public = client.get(f"/primaries/ville/candidates/{cid}")
    assert public.status_code == 200
    assert "<h4>Terre</h4>" in public.text and "<em>fermes</em>" in public.text
    assert "<script>alert(1)</script>" not in public.text
    assert "<progress" in public.text and "0 / 2" in public.text
    photo = client.get(f"/primaries/ville/candidates/{cid}/photo")
    assert photo.status_code == 200 and photo.headers["content-type"] == "image/png"
    assert photo.content == PNG
    # Pages link the photo by its hash: a new photo is a new address, so it can be cached.
    linked = re.search(r'src="([^"]+/photo\?v=[0-9a-f]{16})"', public.text)
    assert linked is not None
    cached = client.get(linked.group(1))
    assert cached.content == PNG and "immutable" in cached.headers["cache-control"]

    first, second, third = (citizen(client, f"s{i}@example.org") for i in range(3))
    url = f"/primaries/ville/candidates/{cid}"
    assert post_form(first, f"{url}/support").status_code == 303
    duplicate = post_form(first, f"{url}/support")
    assert duplicate.status_code == 409 and "Vous soutenez déjà ce candidat." in duplicate.text
    assert post_form(first, f"{url}/unsupport").status_code == 303
    assert post_form(first, f"{url}/support").status_code == 303
    assert post_form(second, f"{url}/support").status_code == 303  # reaches the threshold
    late = post_form(third, f"{url}/support")
    assert late.status_code == 409 and "ne recueille pas de soutiens" in late.text
    frozen = post_form(citizen_client, f"{url}/edit", {"name": "Autre", "bio": "", "programme": ""})
    assert frozen.status_code == 409 and "ne peut plus être modifiée" in frozen.text
    not_mine = post_form(first, f"{url}/confirm")
    assert not_mine.status_code == 403
    assert post_form(citizen_client, f"{url}/confirm").status_code == 303
    assert "Confirmée" in client.get(url).text

    entries = log_entries(client, "ville")
    assert [(k, b.get("action")) for k, b in entries] == [
        ("definition", None), ("candidacy", "submitted"), ("candidacy", "published"),
        ("support", None), ("support-withdrawal", None), ("support", None), ("support", None),
        ("qualification", None), ("candidacy", "confirmed"),
    ]  # fmt: skip
    assert entries[-2][1] == {"candidate": cid, "supports": 2, "threshold": 2}
    mine = first.get("/account/participation")
    assert mine.status_code == 200 and "Léa Dupont" in mine.text


def test_support_refusals_over_http(
    client: TestClient, organiser_client: TestClient, citizen_client: TestClient
) -> None:
    create_primary_http(organiser_client, threshold="50", support_cap="1")
    ids = []
    for n in range(2):
        ids.append(declare(citizen(client, f"cand{n}@example.org"), name=f"Cand {n}"))
        post_form(organiser_client, f"/primaries/ville/admin/candidacies/{ids[-1]}/accept")
    assert post_form(citizen_client, f"/primaries/ville/candidates/{ids[0]}/support"
                     ).status_code == 303  # fmt: skip
    over = post_form(citizen_client, f"/primaries/ville/candidates/{ids[1]}/support")
    assert over.status_code == 409 and "vos 1 soutiens" in over.text
    visitor = client.post(f"/primaries/ville/candidates/{ids[1]}/support", follow_redirects=False)
    assert visitor.status_code == 403  # no CSRF token
    # Wrong phase: the supports phase is moved to the past (directly, for the test).
    run_db(client, """UPDATE primaries SET definition = jsonb_set(definition, '{phases,1,start}',
                     '"2020-01-01T00:00:00Z"') WHERE slug = 'ville'""")  # fmt: skip
    run_db(client, """UPDATE primaries SET definition = jsonb_set(definition, '{phases,1,end}',
                     '"2020-02-01T00:00:00Z"') WHERE slug = 'ville'""")  # fmt: skip
    closed = post_form(citizen(client, "late@example.org"),
                       f"/primaries/ville/candidates/{ids[1]}/support")  # fmt: skip
    assert closed.status_code == 409 and "pas ouverte" in closed.text
    # Not eligible: an allow-list primary without this citizen on it.
    run_db(client, """UPDATE primaries SET definition = definition
                     || '{"eligibility": "allow-list"}'::jsonb WHERE slug = 'ville'""")  # fmt: skip
    run_db(client, """UPDATE primaries SET definition = jsonb_set(definition, '{phases,1,end}',
                     '"2099-02-01T00:00:00Z"') WHERE slug = 'ville'""")  # fmt: skip
    refused = post_form(citizen(client, "out@example.org"),
                        f"/primaries/ville/candidates/{ids[1]}/support")  # fmt: skip
    assert refused.status_code == 403 and "liste" in refused.text
    supports = [k for k, _ in log_entries(client, "ville") if k.startswith("support")]
    assert supports == ["support"]


def test_bad_declarations_are_refused_inline_and_nothing_is_stored(
    client: TestClient, organiser_client: TestClient, citizen_client: TestClient
) -> None:
    create_primary_http(organiser_client)
    cases = [
        ({"charter": ""}, None, "accepter la charte"),
        ({"name": ""}, None, "obligatoire"),
        ({"name": "n" * 500}, None, "trop long"),
        ({"links": "javascript:alert(1)"}, None, "http et https"),
        ({"bio": "b" * 5000}, None, "trop long"),
        ({}, ("x.gif", b"GIF89a" + b"\x00" * 10, "image/gif"), "PNG ou JPEG"),
        ({}, ("x.png", PNG + b"\x00" * (1024 * 1024), "image/png"), "1 Mo"),
    ]
    for changes, upload, message in cases:
        form = {"name": "Léa", "bio": "Bio", "programme": "P", "links": "", "charter": "on",
                **changes}  # fmt: skip
        files = {"photo": upload} if upload else None
        response = post_form(citizen_client, "/primaries/ville/declare", form, files=files)
        assert 400 <= response.status_code < 500, (changes, response.status_code)
        assert message in response.text, changes
        if changes.get("name", "Léa") == "Léa":
            assert 'value="Léa"' in response.text  # what the user typed is kept
    assert run_db(client, "SELECT count(*) AS n FROM candidacies")[0]["n"] == 0
    assert len(log_entries(client, "ville")) == 1


def test_list_order_is_random_per_visitor_but_stable_and_searchable(
    client: TestClient, organiser_client: TestClient
) -> None:
    create_primary_http(organiser_client)
    names = [f"Candidat {chr(65 + i)}" for i in range(8)]
    for i, name in enumerate(names):
        cid = declare(citizen(client, f"c{i}@example.org"), name=name,
                      programme="écologie" if i == 3 else "santé")  # fmt: skip
        post_form(organiser_client, f"/primaries/ville/admin/candidacies/{cid}/accept")

    def order(browser: TestClient) -> list[str]:
        text = browser.get("/primaries/ville/candidates").text
        return re.findall(r">(Candidat [A-H])</a>", text)

    first = order(client)
    assert sorted(first) == names and order(client) == first
    orders = {tuple(order(another_client(client))) for _ in range(6)}
    assert len(orders) > 1  # other visitors see other orders
    found = client.get("/primaries/ville/candidates", params={"q": "écologie"}).text
    assert re.findall(r">(Candidat [A-H])</a>", found) == ["Candidat D"]
    # Accents and case do not matter either way round.
    for query in ("ECOLOGIE", "ecologie", "Écologîe"):
        found = client.get("/primaries/ville/candidates", params={"q": query}).text
        assert re.findall(r">(Candidat [A-H])</a>", found) == ["Candidat D"], query
    english = client.get(
        "/primaries/ville/candidates", params={"q": "zzz"}, headers={"Accept-Language": "en"}
    ).text
    assert "Results for “zzz”: 0." in english and "No candidate matches this search." in english
    assert "« zzz »" in client.get("/primaries/ville/candidates", params={"q": "zzz"}).text
    english = client.get("/primaries/ville/candidates?lang=en").text
    assert "Supports" in english and "<progress" in english


def test_decline_and_withdraw_over_http(client: TestClient, organiser_client: TestClient) -> None:
    create_primary_http(organiser_client, threshold="1")
    first, second = citizen(client, "d1@example.org"), citizen(client, "d2@example.org")
    ids = [declare(first, name="Décline"), declare(second, name="Retire")]
    for cid in ids:
        post_form(organiser_client, f"/primaries/ville/admin/candidacies/{cid}/accept")
        fan = citizen(client, f"fan-{cid[:6]}@example.org")
        assert post_form(fan, f"/primaries/ville/candidates/{cid}/support").status_code == 303
    assert post_form(first, f"/primaries/ville/candidates/{ids[0]}/decline").status_code == 303
    assert post_form(second, f"/primaries/ville/candidates/{ids[1]}/withdraw",
                     {"reason": "Raisons familiales"}).status_code == 303  # fmt: skip
    again = post_form(second, f"/primaries/ville/candidates/{ids[1]}/withdraw")
    assert again.status_code == 409
    page = client.get(f"/primaries/ville/candidates/{ids[1]}")
    assert "Retirée" in page.text and "Raisons familiales" in page.text
    actions = [(b["candidate"], b["action"]) for k, b in log_entries(client, "ville")
               if k == "candidacy" and b["action"] in ("declined", "withdrawn")]  # fmt: skip
    assert actions == [(ids[0], "declined"), (ids[1], "withdrawn")]


def test_supports_are_rate_limited_per_account(
    client: TestClient, organiser_client: TestClient, citizen_client: TestClient
) -> None:
    from web.ratelimit import SUPPORT_LIMIT_PER_ACCOUNT

    create_primary_http(organiser_client, threshold="50")
    candidate = declare(citizen(client, "cand@example.org"))
    post_form(organiser_client, f"/primaries/ville/admin/candidacies/{candidate}/accept")
    url = f"/primaries/ville/candidates/{candidate}"
    limit, _ = SUPPORT_LIMIT_PER_ACCOUNT
    statuses = [
        post_form(citizen_client, f"{url}/{'support' if n % 2 == 0 else 'unsupport'}").status_code
        for n in range(limit)
    ]
    assert 429 not in statuses
    refused = post_form(citizen_client, f"{url}/support")
    assert refused.status_code == 429
    assert int(refused.headers["retry-after"]) > 0
    # another citizen from the same address is not held back
    assert post_form(citizen(client, "other@example.org"), f"{url}/support").status_code == 303


def test_content_moderation_never_published_stays_private(
    client: TestClient, organiser_client: TestClient
) -> None:
    """Withdrawing before moderation, or being rejected, must not publish what moderation
    never accepted; a candidacy published once stays public after it withdraws."""
    create_primary_http(organiser_client, threshold="5")
    author, other, published = (citizen(client, f"m{i}@example.org") for i in range(3))
    withdrawn = declare(author, name="Jamais modérée")
    rejected = declare(other, name="Refusée par la modération")
    shown = declare(published, name="Publiée puis retirée")
    assert post_form(author, f"/primaries/ville/candidates/{withdrawn}/withdraw").status_code == 303
    reject = post_form(organiser_client, f"/primaries/ville/admin/candidacies/{rejected}/reject",
                       {"reason": "Hors charte"})  # fmt: skip
    assert reject.status_code == 303
    post_form(organiser_client, f"/primaries/ville/admin/candidacies/{shown}/accept")
    assert post_form(published, f"/primaries/ville/candidates/{shown}/withdraw").status_code == 303

    visitor = another_client(client)
    for cid, owner in ((withdrawn, author), (rejected, other)):
        page = f"/primaries/ville/candidates/{cid}"
        for path in (f"{page}/photo", f"/api/candidacies/{cid}"):
            assert visitor.get(path).status_code == 404, path
            assert owner.get(path).status_code == 200, path
            assert organiser_client.get(path).status_code == 200, path
        # Visitors see the outcome (it is in the public log), never the content.
        outcome = visitor.get(page)
        assert outcome.status_code == 200 and "Candidature non publiée" in outcome.text
        assert "Léa Dupont" not in outcome.text and "Agricultrice" not in outcome.text
        assert "Jamais" not in outcome.text and "Refusée par" not in outcome.text
        for insider in (owner, organiser_client):
            assert "Agricultrice" in insider.get(page).text
            # Not public: no shared cache may keep it.
            assert insider.get(f"{page}/photo").headers["cache-control"] == "private, no-store"
    assert visitor.get(f"/primaries/ville/candidates/{shown}").status_code == 200
    listed = visitor.get(
        "/api/primaries/ville/candidacies",
        params=[("status", "withdrawn"), ("status", "rejected")],
    )
    assert [c["id"] for c in listed.json()["candidacies"]] == [shown]
    organiser_view = organiser_client.get(
        "/api/primaries/ville/candidacies",
        params=[("status", "withdrawn"), ("status", "rejected")],
    )
    assert {c["id"] for c in organiser_view.json()["candidacies"]} == {withdrawn, rejected, shown}
    data = visitor.get("/primaries/ville/data/candidates.json")
    assert [c["name"] for c in data.json()["candidates"]] == ["Publiée puis retirée"]


def test_a_form_sent_signed_out_comes_back_to_its_page_after_sign_in(
    client: TestClient, organiser_client: TestClient
) -> None:
    """A session that ended while a page was open: the form's POST asks to sign in, and
    signing in returns to the page (not to the POST-only address: 405)."""
    create_primary_http(organiser_client, threshold="5")
    cid = declare(citizen(client, "page@example.org"))
    post_form(organiser_client, f"/primaries/ville/admin/candidacies/{cid}/accept")
    page = f"/primaries/ville/candidates/{cid}"
    visitor = another_client(client)
    for headers in ({"Referer": f"http://testserver{page}?from=list"}, {}):
        response = post_form(visitor, f"{page}/support", headers=headers)
        assert response.status_code == 303
        target = unquote(response.headers["location"].split("next=", 1)[1])
        assert target in (f"{page}?from=list", page)
        assert visitor.get(target).status_code == 200
    # A foreign Referer is never a place to return to (and CSRF refuses the request first).
    foreign = post_form(visitor, f"{page}/support", headers={"Referer": "https://evil.example/x"})
    assert "evil.example" not in foreign.headers.get("location", "")


def test_a_support_given_to_a_candidate_who_left_can_be_taken_back(
    client: TestClient, organiser_client: TestClient, tmp_path: Path
) -> None:
    """The cap counts a citizen's active supports: when a supported candidate withdraws
    before qualifying, the citizen takes the support back and gives it to someone else."""
    create_primary_http(organiser_client, threshold="5", support_cap="1")
    leaving, staying = citizen(client, "l@example.org"), citizen(client, "s@example.org")
    gone, other = declare(leaving, name="Part"), declare(staying, name="Reste")
    for cid in (gone, other):
        post_form(organiser_client, f"/primaries/ville/admin/candidacies/{cid}/accept")
    fan = citizen(client, "fan@example.org")
    base = "/primaries/ville/candidates"
    assert post_form(fan, f"{base}/{gone}/support").status_code == 303
    assert post_form(leaving, f"{base}/{gone}/withdraw").status_code == 303
    capped = post_form(fan, f"{base}/{other}/support")
    assert capped.status_code == 409 and "1 soutiens" in capped.text
    page = fan.get(f"{base}/{gone}").text
    assert "reprenez votre soutien" in page and f"{base}/{gone}/unsupport" in page
    assert post_form(fan, f"{base}/{gone}/unsupport").status_code == 303
    assert post_form(fan, f"{base}/{other}/support").status_code == 303
    entries = log_entries(client, "ville")
    kinds = [(k, b["candidate"]) for k, b in entries if k.startswith("support")]
    assert kinds == [("support", gone), ("support-withdrawal", gone), ("support", other)]
    # Nobody else gets a button on the page of a candidate who left.
    assert "unsupport" not in client.get(f"{base}/{gone}").text
    # The observers' tool agrees: supports recounted, the cap respected (check 7).
    export = tmp_path / "ville.json"
    export.write_bytes(client.get("/primaries/ville/log/export").content)
    vkey = client.get("/primaries/ville/log/vkey").text
    audit = subprocess.run(
        [sys.executable, "-m", "audit", "verify", str(export), "--log-key", vkey, "--json"],
        capture_output=True, text=True, timeout=120, cwd=REPO_ROOT,
    )  # fmt: skip
    assert audit.returncode == 0, audit.stdout + audit.stderr


def test_a_claimed_voter_number_cannot_be_handed_to_another_account(
    client: TestClient, organiser_client: TestClient
) -> None:
    """One allow-list entry, one participant: the invitation code links the number to one
    account; another account with the same number and code is refused, and cannot support."""
    from tests.fixtures.eligibility import claim, import_codes

    create_primary_http(organiser_client, threshold="5", eligibility="allow-list")
    code = import_codes(organiser_client, "ville", "VN-888")["VN-888"]
    cid = declare(citizen(client, "cand@example.org"))
    post_form(organiser_client, f"/primaries/ville/admin/candidacies/{cid}/accept")
    first, second = citizen(client, "y1@example.org"), citizen(client, "y2@example.org")
    assert claim(first, "ville", "VN-888", code).status_code == 303
    assert post_form(first, f"/primaries/ville/candidates/{cid}/support").status_code == 303
    assert claim(second, "ville", "VN-888", code).status_code == 400
    refused_support = post_form(second, f"/primaries/ville/candidates/{cid}/support")
    assert refused_support.status_code == 403
    rows = run_db(client, "SELECT count(*) AS n FROM supports")
    assert rows[0]["n"] == 1
