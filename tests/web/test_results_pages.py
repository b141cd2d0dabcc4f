"""Close, reveal, results, observers and open data pages over HTTP."""

from __future__ import annotations

import base64
import csv
import io
import json
import re

import pytest
from starlette.testclient import TestClient

from tests.fixtures.accounts import another_client, post_form, run_db, sign_in
from tests.fixtures.log import settled_tree_size
from tests.fixtures.rounds import GRADES, PASSPHRASE, RoundPrimary, seed_round_primary
from voting.majority import tally


@pytest.fixture
def primary(client: TestClient) -> RoundPrimary:
    return seed_round_primary(client)


@pytest.fixture
def organiser(client: TestClient, primary: RoundPrimary) -> TestClient:
    other = another_client(client)
    sign_in(other, f"orga-{primary.slug}@example.org", organiser=True)
    return other


def _open(organiser: TestClient, primary: RoundPrimary, custody: str = "passphrase"):
    return post_form(
        organiser,
        f"/primaries/{primary.slug}/rounds",
        {
            "candidates": primary.candidates,
            "custody": custody,
            "passphrase": PASSPHRASE,
            "passphrase_again": PASSPHRASE,
        },
    )


def _vote(client: TestClient, primary: RoundPrimary, email: str, grades: dict[str, int]) -> None:
    voter = another_client(client)
    sign_in(voter, email)
    data = {f"grade-{c}": str(g) for c, g in grades.items()} if grades else {"choice": "blank"}
    response = post_form(voter, f"/primaries/{primary.slug}/rounds/1/cast", data)
    assert response.status_code == 303, response.text


BALLOTS = [
    [6, 3, 1, 0],
    [5, 4, 2, 1],
    [4, 4, 2, 3],
    [6, 2, 3, 0],
    [],
    [3, 5, 1, 1],
]


def _cast_all(client: TestClient, primary: RoundPrimary) -> list[dict[str, int]]:
    cast = []
    for i, grades in enumerate(BALLOTS):
        ballot = dict(zip(primary.candidates, grades, strict=False))
        _vote(client, primary, f"voter{i}@example.org", ballot)
        cast.append(ballot)
    return cast


def test_no_count_is_shown_before_close(client, primary, organiser) -> None:
    assert _open(organiser, primary).status_code == 303
    _cast_all(client, primary)
    base = f"/primaries/{primary.slug}"
    results = client.get(f"{base}/rounds/1/results")
    assert results.status_code == 404
    for path in ["/rounds", "/rounds/1", "/observers", "/data"]:
        page = organiser.get(base + path)
        assert page.status_code == 200
        assert "Participation" not in page.text
        assert not re.search(r"\b6 (votants|bulletins)", page.text)
    data = client.get(f"{base}/data/results.json").json()
    assert [set(r) for r in data["rounds"]] == [
        {"round", "status", "candidates", "subset_size", "allow_blank", "grades"}
    ]
    rows = list(csv.reader(io.StringIO(client.get(f"{base}/data/results.csv").text)))
    assert len(rows) == 1  # the header only
    api = client.get(f"/api/primaries/{primary.slug}/rounds").json()
    assert "turnout" not in api["rounds"][0] and "result" not in api["rounds"][0]
    assert "/api/primaries/{slug}/rounds" in client.get("/api/openapi.json").json()["paths"]


def test_wrong_passphrase_is_refused_and_changes_nothing(client, primary, organiser) -> None:
    _open(organiser, primary)
    _cast_all(client, primary)
    base = f"/primaries/{primary.slug}/rounds/1"
    assert post_form(organiser, f"{base}/close", {}).status_code == 303
    size = settled_tree_size(client, primary.id)
    wrong = post_form(organiser, f"{base}/reveal", {"passphrase": "a wrong passphrase"})
    assert wrong.status_code == 400 and "Phrase secrète incorrecte." in wrong.text
    assert 'aria-invalid="true"' in wrong.text
    assert settled_tree_size(client, primary.id) == size
    assert run_db(client, "SELECT status FROM rounds")[0]["status"] == "closed"
    assert client.get(f"{base}/results").status_code == 200  # closed: notice, no numbers
    assert "Profils de mérite" not in client.get(f"{base}/results").text
    # Only organisers can reveal.
    voter = another_client(client)
    sign_in(voter, "voter0@example.org")
    assert post_form(voter, f"{base}/reveal", {"passphrase": PASSPHRASE}).status_code == 403


def test_results_page_charts_explanations_and_open_data(client, primary, organiser) -> None:
    _open(organiser, primary)
    base = f"/primaries/{primary.slug}"
    # The primary's page says what the rounds are doing, whatever the calendar says.
    home = client.get(base).text
    assert "Ouvert au vote." in home and f"{base}/rounds/1/vote" in home
    ballots = _cast_all(client, primary)
    assert post_form(organiser, f"{base}/rounds/1/close", {}).status_code == 303
    assert "Clos ; dépouillement en attente de la clé." in client.get(base).text
    reveal = post_form(organiser, f"{base}/rounds/1/reveal", {"passphrase": PASSPHRASE})
    assert reveal.status_code == 303 and reveal.headers["location"].endswith("/rounds/1/results")
    page = client.get(f"{base}/rounds/1/results")
    assert page.status_code == 200
    assert f"{base}/rounds/1/results" in client.get(base).text
    html = page.text
    engine = tally(GRADES, primary.candidates, ballots=ballots)
    names = [primary.names[c] for c in engine.ranking]
    positions = [html.index(f'<a href="#candidat-{i + 1}">{n}</a>') for i, n in enumerate(names)]
    assert positions == sorted(positions)
    assert html.count('role="img"') == 4 + 1  # one chart per candidate, and the overview
    assert html.count('<title id="profil-') == 4 and 'aria-labelledby="profil-1-title' in html
    assert html.count('class="profile-table"') == 4
    for sentence in engine.explanations("fr"):
        for cid, name in primary.names.items():
            sentence = sentence.replace(cid, name)
        assert sentence.replace("'", "&#39;") in html
    assert (
        "Participation :" in html and f"{base}/log/export" in html and f"{base}/observers" in html
    )
    assert "bulletins valides : 5" in html and "blancs : 1" in html
    english = client.get(f"{base}/rounds/1/results", headers={"accept-language": "en"})
    assert "Merit profiles" in english.text and "Why this order" in english.text
    # Chart labels follow each language's typography: "17%" and "Good: 3" in English.
    charts = re.findall(r"<svg.*?</svg>", english.text, re.S)
    assert charts and not any(" %" in c or " :" in c for c in charts)
    assert any(re.search(r">\d+%<", c) for c in charts)
    french = re.findall(r"<svg.*?</svg>", client.get(f"{base}/rounds/1/results").text, re.S)
    assert any(re.search(r">\d+ %<", c) for c in french)
    # Open data.
    data = client.get(f"{base}/data/results.json").json()
    [round_data] = data["rounds"]
    assert round_data["turnout"] == 6 and round_data["result"]["ranking"] == list(engine.ranking)
    rows = list(csv.DictReader(io.StringIO(client.get(f"{base}/data/results.csv").text)))
    assert [r["candidate"] for r in rows] == list(engine.ranking)
    first = rows[0]
    # The profile's columns are named by the grade labels, worst first.
    assert [int(first[label]) for label in GRADES] == list(engine.profiles[first["candidate"]])
    header = client.get(f"{base}/data/results.csv").text.splitlines()[0].split(",")
    assert header[7:] == list(GRADES) and not any(h.startswith("grade_") for h in header)
    assert first["majority_grade_label"] == GRADES[int(first["majority_grade"])]
    candidates = list(csv.DictReader(io.StringIO(client.get(f"{base}/data/candidates.csv").text)))
    assert {c["candidate"] for c in candidates} == set(primary.candidates)
    assert {c["supports"] for c in candidates} == {"1"}
    assert client.get(f"{base}/data/candidates.json").json()["candidates"]


def test_key_file_custody_over_http(client, primary, organiser) -> None:
    opened = _open(organiser, primary, custody="file")
    assert opened.status_code == 200 and "Télécharger le fichier de clé" in opened.text
    uri = re.search(r'href="data:application/json;base64,([^"]+)" download', opened.text)
    key_file = base64.b64decode(uri.group(1))
    assert json.loads(key_file)["format"] == "scrutin-tally-key/v1"
    assert run_db(client, "SELECT sealed_tally_key FROM rounds")[0]["sealed_tally_key"] is None
    _vote(client, primary, "kf@example.org", dict.fromkeys(primary.candidates, 4))
    base = f"/primaries/{primary.slug}/rounds/1"
    post_form(organiser, f"{base}/close", {})
    page = organiser.get(base)
    assert 'type="file"' in page.text
    wrong = post_form(organiser, f"{base}/reveal", {"key_text": '{"format": "nope"}'})
    assert wrong.status_code == 400
    right = post_form(
        organiser,
        f"{base}/reveal",
        {},
        files={"key_file": ("key.json", key_file, "application/json")},
    )
    assert right.status_code == 303, right.text
    results = client.get(f"{base}/results")
    assert results.status_code == 200
    assert "1 jugement</figcaption>" in results.text  # one voter: singular


def test_observers_page_gives_key_checkpoint_and_commands(client, primary) -> None:
    page = client.get(f"/primaries/{primary.slug}/observers")
    assert page.status_code == 200
    vkey = client.get(f"/primaries/{primary.slug}/log/vkey").text.strip()
    assert vkey in page.text
    command = f"scrutin-audit verify http://testserver/primaries/{primary.slug}"
    assert f"{command} --log-key &#39;{vkey}&#39;" in page.text
    assert "scrutin-audit receipt receipt.json" in page.text
    assert f"/primaries/{primary.slug}/log/export" in page.text
    assert "— " in page.text  # the signed checkpoint's signature line
    # Where generic C2SP clients read the log, and the origin they will find there.
    assert f"<code>http://testserver/primaries/{primary.slug}/</code>" in page.text
    assert f"<code>scrutin.localhost/primaries/{primary.slug}</code>" in page.text
    checkpoint = client.get(f"/primaries/{primary.slug}/checkpoint")
    assert checkpoint.text.startswith(f"scrutin.localhost/primaries/{primary.slug}\n")
    english = client.get(f"/primaries/{primary.slug}/observers", headers={"Accept-Language": "en"})
    assert "<h1>Observe and verify: " in english.text
    assert "<h1>Observer et vérifier : " in page.text
