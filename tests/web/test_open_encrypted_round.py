"""The organiser's round pages in an encrypted primary (docs/audit-log.md §10): no tally key
exists, so the page to open a round offers no passphrase or key-file custody, says up front
when the trustees have not made the election key yet, and the close's confirmation speaks of
the trustees' decryption instead of a key to reveal."""

from __future__ import annotations

import re
from pathlib import Path

from starlette.applications import Starlette
from starlette.testclient import TestClient

from tests.fixtures.accounts import another_client, post_form, sign_in
from tests.fixtures.rounds import seed_round_primary
from web.trustee import local_ceremony

ENCRYPTED = {"ballots": "encrypted", "trustees": 3, "trustee_threshold": 2}
GRADES4 = ["Insuffisant", "Passable", "Bien", "Très bien"]


def _text(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


def test_opening_an_encrypted_round_asks_for_no_tally_key(
    client: TestClient, public_tmp_path: Path
) -> None:
    primary = seed_round_primary(
        client, candidates=3, credentials="voter", grades=GRADES4, extra=ENCRYPTED
    )
    organiser = another_client(client)
    sign_in(organiser, f"orga-{primary.slug}@example.org", organiser=True)
    new = f"/primaries/{primary.slug}/rounds/new"

    page = organiser.get(new)  # before the ceremony: said first, no form to fill in vain
    assert page.status_code == 200
    alert = re.search(r'<p role="alert"[^>]*>(.*?)</p>', page.text, re.S)
    assert alert is not None and "les garants ne l’ont pas encore établie" in alert.group(1)
    assert f'href="/primaries/{primary.slug}/trustees"' in page.text
    assert "<form" not in page.text.split("<main", 1)[-1]
    english = organiser.get(new, headers={"accept-language": "en"})
    assert "the trustees have not made it yet" in english.text

    app = client.app
    assert isinstance(app, Starlette)
    folders = [public_tmp_path / f"garant-{i}" for i in (1, 2, 3)]
    client.portal.call(  # type: ignore[union-attr]
        local_ceremony,
        app.state.pool,
        app.state.log,
        primary.id,
        folders,
        ["A", "B", "C"],
    )
    page = organiser.get(new)
    assert page.status_code == 200
    assert 'name="passphrase"' not in page.text and 'name="custody"' not in page.text
    assert "il n’y a pas de clé de dépouillement à garder" in _text(page.text)
    assert "ou par le service pour qui vote sans JavaScript" in _text(page.text)
    assert "Clé de l’élection" in page.text

    # The form as this page sends it (no passphrase) opens the round.
    opened = post_form(
        organiser, f"/primaries/{primary.slug}/rounds", {"candidates": primary.candidates}
    )
    assert opened.status_code == 303, _text(opened.text)
    assert opened.headers["location"] == f"/primaries/{primary.slug}/rounds/1"

    round_page = _text(client.get(f"/primaries/{primary.slug}/rounds/1").text)
    assert "ou par le service pour qui vote sans JavaScript" in round_page
    confirm = _text(organiser.get(f"/primaries/{primary.slug}/rounds/1/close").text)
    assert "les garants déchiffreront ensuite ces seules sommes" in confirm
    assert "révéler la clé" not in confirm
