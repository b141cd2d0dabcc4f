"""An entry over 65,535 bytes cannot be served in a tile bundle (docs/audit-log.md §7): the
service refuses it with a clear message next to the field to change, and writes nothing."""

from __future__ import annotations

import pytest
from starlette.testclient import TestClient

from crypto import tiles
from tests.fixtures.accounts import another_client, post_form, run_db, sign_in
from tests.fixtures.primaries import create_primary_http, log_entries, primary_form
from tests.fixtures.rounds import PASSPHRASE, seed_round_primary


def _written(client: TestClient, primary_id: object) -> int:
    """Entries of the primary's log, integrated or still queued (both are committed)."""
    return run_db(
        client,
        "SELECT (SELECT count(*) FROM log_entries WHERE primary_id = $1)"
        " + (SELECT count(*) FROM log_queue WHERE primary_id = $1) AS n",
        primary_id,
    )[0]["n"]


def test_a_round_too_large_for_one_log_entry_is_refused_inline(client: TestClient) -> None:
    # 110 confirmed candidates with 120-character names of 4-byte characters: their round-open
    # entry would be about 70,000 bytes.
    names = [f"{'🗳' * 116} {i:03d}" for i in range(110)]
    primary = seed_round_primary(client, candidates=110, names=names)
    organiser = another_client(client)
    sign_in(organiser, f"orga-{primary.slug}@example.org", organiser=True)
    before = _written(client, primary.id)
    response = post_form(
        organiser,
        f"/primaries/{primary.slug}/rounds",
        {
            "candidates": primary.candidates,
            "custody": "passphrase",
            "passphrase": PASSPHRASE,
            "passphrase_again": PASSPHRASE,
        },
    )
    assert response.status_code == 400
    assert "Trop de candidats pour un seul tour" in response.text
    assert "et une entrée en compte 65535 au plus" in response.text
    assert _written(client, primary.id) == before
    assert run_db(client, "SELECT count(*) AS n FROM rounds")[0]["n"] == 0
    english = post_form(
        organiser,
        f"/primaries/{primary.slug}/rounds",
        {
            "candidates": primary.candidates,
            "custody": "passphrase",
            "passphrase": PASSPHRASE,
            "passphrase_again": PASSPHRASE,
        },
        headers={"Accept-Language": "en"},
    )
    assert "Too many candidates for one round" in english.text


def test_a_definition_too_large_for_the_log_is_an_inline_description_error(
    client: TestClient, organiser_client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    create_primary_http(organiser_client)
    # Today's form limits keep a definition far below 65,535 bytes; a smaller bundle limit
    # shows the path a longer text would take.
    monkeypatch.setattr(tiles, "MAX_ENTRY_SIZE", 4000)
    response = post_form(
        organiser_client, "/primaries/ville/admin", primary_form("ville", description="é" * 3000)
    )
    assert response.status_code == 413
    assert "Texte trop long" in response.text and "4000 au plus" in response.text
    assert 'aria-errormessage="description-error"' in response.text
    assert len(log_entries(client, "ville")) == 1
    assert run_db(client, "SELECT revision FROM primaries WHERE slug = 'ville'")[0]["revision"] == 1
