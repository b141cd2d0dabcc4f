"""The trustees' page and registration API (web/views/trustees.py): the organiser registers
trustees by form or JSON, bad input is answered inline or with a field path and changes
nothing, others may not register, and the page says where the ceremony stands (French and
English)."""

from __future__ import annotations

from pathlib import Path

import nacl.public
import nacl.signing
from starlette.testclient import TestClient

from crypto.encoding import b64encode
from tests.fixtures.accounts import another_client, api_request, csrf_token, post_form, sign_in
from tests.fixtures.primaries import definition_input, log_entries
from tests.fixtures.rounds import seed_round_primary
from tests.fixtures.trustees import encrypted_primary_by_api
from web.trustee import local_ceremony


def _keys() -> dict[str, str]:
    return {
        "signing_key": b64encode(bytes(nacl.signing.SigningKey.generate().verify_key)),
        "box_key": b64encode(bytes(nacl.public.PrivateKey.generate().public_key)),
    }


def test_the_organiser_registers_trustees_and_the_page_follows(
    client: TestClient, organiser_client: TestClient
) -> None:
    encrypted_primary_by_api(organiser_client, "chiffree", trustees=2)
    home = client.get("/primaries/chiffree")
    assert "seules leurs sommes sont déchiffrées, par 2 des 2 garants" in home.text
    assert 'href="/primaries/chiffree/trustees"' in home.text
    page = client.get("/primaries/chiffree/trustees")
    assert page.status_code == 200
    assert (
        "0 garant(s) enregistré(s) sur 2" in page.text and "Enregistrer un garant" not in page.text
    )

    bad = post_form(
        organiser_client, "/primaries/chiffree/trustees",
        {"name": "Ada", "signing_key": "pas une clé", "box_key": _keys()["box_key"]},
    )  # fmt: skip
    assert bad.status_code == 422
    assert "Clé de garant invalide" in bad.text and 'value="Ada"' in bad.text
    assert 'aria-invalid="true"' in bad.text
    ok = post_form(organiser_client, "/primaries/chiffree/trustees", {"name": "Ada", **_keys()})
    assert ok.status_code == 303
    assert [k for k, _ in log_entries(client, "chiffree")] == ["definition", "trustee"]

    citizen = another_client(client)
    sign_in(citizen, "curieux@example.org")
    refused = api_request(
        citizen, "POST", "/api/primaries/chiffree/trustees", {"name": "Bob", **_keys()}
    )
    assert refused.status_code == 403
    missing = api_request(
        organiser_client, "POST", "/api/primaries/chiffree/trustees",
        {"name": "", **_keys()},
    )  # fmt: skip
    assert missing.status_code == 422 and missing.json()["error"]["field"] == "name"
    made = api_request(
        organiser_client, "POST", "/api/primaries/chiffree/trustees", {"name": "Bob", **_keys()}
    )
    assert made.status_code == 201 and made.json() == {"index": 2}
    full = api_request(
        organiser_client, "POST", "/api/primaries/chiffree/trustees", {"name": "Eve", **_keys()}
    )
    assert full.status_code == 409 and "déjà enregistrés" in full.json()["error"]["message"]
    assert [k for k, _ in log_entries(client, "chiffree")] == ["definition", "trustee", "trustee"]

    state = client.get("/api/primaries/chiffree/trustees").json()
    assert state["state"] == "keygen"
    assert [t["name"] for t in state["trustees"]] == ["Ada", "Bob"]
    english = client.get("/primaries/chiffree/trustees", headers={"Accept-Language": "en"})
    assert "Key generation: the trustees post their commitments and shares" in english.text
    assert "2 of 2 trustee(s) registered" in english.text

    forged = api_request(
        client, "POST", "/api/primaries/chiffree/trustees/keygen",
        {"index": 1, "commitments": [], "pok": "", "shares": [], "trustee_sig": "AAAA"},
    )  # fmt: skip
    assert forged.status_code == 422
    assert forged.json()["error"]["field"] == "trustee_sig"
    sums = client.get("/api/primaries/chiffree/rounds/1/sums")
    assert sums.status_code == 404 and sums.json()["error"]["message"]


def test_a_sealed_primary_has_no_trustees(client: TestClient, organiser_client: TestClient) -> None:
    made = api_request(organiser_client, "POST", "/api/primaries", definition_input("scellee"))
    assert made.status_code == 201, made.text
    page = client.get("/primaries/scellee/trustees")
    assert page.status_code == 200 and "ses bulletins sont scellés" in page.text
    api = client.get("/api/primaries/scellee/trustees")
    assert api.status_code == 409
    refused = api_request(
        organiser_client, "POST", "/api/primaries/scellee/trustees", {"name": "Ada", **_keys()}
    )
    assert refused.status_code == 409
    assert client.get("/primaries/inconnue/trustees").status_code == 404


def test_a_malformed_registration_form_is_refused_and_registers_nobody(
    client: TestClient, organiser_client: TestClient
) -> None:
    """A half-sent multipart form (valid fields, no closing boundary) or a body that is no
    form at all is a clear 400, never a 500 nor a trustee registered from part of a form."""
    encrypted_primary_by_api(organiser_client, "chiffree", trustees=2)
    token = csrf_token(organiser_client)
    keys = _keys()
    parts = b"".join(
        b'--b\r\nContent-Disposition: form-data; name="%s"\r\n\r\n%s\r\n'
        % (name.encode(), value.encode())
        for name, value in (("csrf_token", token), ("name", "Ada"), *keys.items())
    )
    bodies = [
        ("multipart/form-data; boundary=b", parts),  # the closing `--b--` never came
        ("multipart/form-data; boundary=b", b"\xff\xfe garbage"),
        ("multipart/form-data", parts + b"--b--\r\n"),  # no boundary to split it by
    ]
    for content_type, body in bodies:
        response = organiser_client.post(
            "/primaries/chiffree/trustees",
            content=body,
            headers={"Content-Type": content_type, "X-CSRF-Token": token},
            follow_redirects=False,
        )
        assert response.status_code == 400, (content_type, response.status_code)
        assert "Formulaire illisible" in response.text
    assert [k for k, _ in log_entries(client, "chiffree")] == ["definition"]
    assert client.get("/api/primaries/chiffree/trustees").json()["trustees"] == []
    # The same form, whole, registers the trustee.
    whole = organiser_client.post(
        "/primaries/chiffree/trustees",
        content=parts + b"--b--\r\n",
        headers={"Content-Type": "multipart/form-data; boundary=b", "X-CSRF-Token": token},
        follow_redirects=False,
    )
    assert whole.status_code == 303
    assert [k for k, _ in log_entries(client, "chiffree")] == ["definition", "trustee"]


def test_the_organiser_restarts_the_ceremony_behind_a_confirmation_page(
    client: TestClient, organiser_client: TestClient
) -> None:
    """The restart form (trustees to replace), its confirmation page with the public reason,
    in French and English; bad input is answered on the page and changes nothing; the page
    then shows the attempt and the restart's history, and the API restarts too."""
    encrypted_primary_by_api(organiser_client, "chiffree", trustees=2)
    restart_link = "/primaries/chiffree/trustees/restart"
    api_restart = "/api/primaries/chiffree/trustees/restart"
    early = api_request(organiser_client, "POST", api_restart, {"replaced": [], "reason": "x"})
    assert early.status_code == 409
    assert "qu’une fois tous les garants" in early.json()["error"]["message"]
    for name in ("Ada", "Bob"):
        made = api_request(
            organiser_client, "POST", "/api/primaries/chiffree/trustees", {"name": name, **_keys()}
        )
        assert made.status_code == 201
    page = organiser_client.get("/primaries/chiffree/trustees")
    assert f'action="{restart_link}"' in page.text and 'name="replaced" value="2"' in page.text
    assert '<button type="submit" class="danger">Recommencer la cérémonie…' in page.text
    assert "Recommencer la cérémonie" not in client.get("/primaries/chiffree/trustees").text

    confirm = organiser_client.get(restart_link, params={"replaced": "2"})
    assert confirm.status_code == 200
    assert "Recommencer la cérémonie des clés ?" in confirm.text
    assert "Garant(s) remplacé(s) : 2." in confirm.text
    assert f'action="{restart_link}?replaced=2"' in confirm.text
    assert 'name="reason"' in confirm.text and "définitive" in confirm.text
    english = organiser_client.get(
        restart_link, params={"replaced": "2"}, headers={"Accept-Language": "en"}
    )
    assert "Restart the key ceremony?" in english.text and "Trustee(s) replaced: 2." in english.text
    same = organiser_client.get(restart_link)
    assert "Aucun garant n’est remplacé" in same.text
    citizen = another_client(client)
    sign_in(citizen, "curieux@example.org")
    assert citizen.get(restart_link).status_code == 403
    assert post_form(citizen, restart_link, {"reason": "non"}).status_code == 403

    before = log_entries(client, "chiffree")
    for query, reason, message in (
        ("?replaced=2", "   ", "Le motif est obligatoire"),
        ("?replaced=2", "x" * 501, "Le motif est obligatoire"),
        ("?replaced=3", "Bob ne répond plus.", "Garants remplacés : numéros de garants"),
        ("?replaced=2&replaced=2", "Bob ne répond plus.", "sans doublon"),
        ("?replaced=deux", "Bob ne répond plus.", "sans doublon"),
    ):
        refused = post_form(organiser_client, restart_link + query, {"reason": reason})
        assert refused.status_code == 422, (query, refused.status_code)
        assert message in refused.text and 'id="restart-error"' in refused.text
    assert log_entries(client, "chiffree") == before
    assert client.get("/api/primaries/chiffree/trustees").json()["attempt"] == 1

    done = post_form(organiser_client, restart_link + "?replaced=2", {"reason": "Bob a perdu."})
    assert done.status_code == 303
    assert log_entries(client, "chiffree")[-1] == (
        "ceremony-restart",
        {"attempt": 2, "replaced": [2], "reason": "Bob a perdu."},
    )
    page = organiser_client.get("/primaries/chiffree/trustees")
    assert "La cérémonie des clés recommence." in page.text
    assert "Enregistrement des garants (tentative 2)" in page.text
    assert "Tentative 2 : garant(s) remplacé(s) : 2 ; motif : <q>Bob a perdu.</q>" in page.text
    assert "1 garant(s) enregistré(s) sur 2" in page.text
    english = client.get("/primaries/chiffree/trustees", headers={"Accept-Language": "en"})
    assert "Registering the trustees (attempt 2)" in english.text
    assert "Attempt 2: trustee(s) replaced: 2; reason: <q>Bob a perdu.</q>" in english.text

    # The replacement gets index 2; the API restarts again, with the same trustees.
    made = api_request(
        organiser_client, "POST", "/api/primaries/chiffree/trustees", {"name": "Cy", **_keys()}
    )
    assert made.status_code == 201 and made.json() == {"index": 2}
    unknown = api_request(organiser_client, "POST", api_restart, {"reason": "x", "why": 1})
    assert unknown.status_code == 422 and unknown.json()["error"]["field"] == "why"
    before = log_entries(client, "chiffree")
    for body, field in (
        ({"replaced": "2", "reason": "x"}, "replaced"),
        ({"replaced": []}, "reason"),
    ):
        bad = api_request(organiser_client, "POST", api_restart, body)
        assert bad.status_code == 422 and bad.json()["error"]["field"] == field, bad.text
    assert api_request(organiser_client, "POST", api_restart, [2]).status_code == 400
    stranger = api_request(citizen, "POST", api_restart, {"replaced": [], "reason": "Moi"})
    assert stranger.status_code == 403
    assert log_entries(client, "chiffree") == before
    again = api_request(organiser_client, "POST", api_restart, {"replaced": [], "reason": "Redo"})
    assert again.status_code == 201 and again.json() == {"attempt": 3}
    state = client.get("/api/primaries/chiffree/trustees").json()
    assert state["attempt"] == 3 and state["state"] == "keygen"
    assert state["restarts"] == [
        {"attempt": 2, "replaced": [2], "reason": "Bob a perdu."},
        {"attempt": 3, "replaced": [], "reason": "Redo"},
    ]


def test_once_the_key_is_made_the_page_no_longer_asks_for_keygen(
    client: TestClient, public_tmp_path: Path
) -> None:
    """After the ceremony, the keygen command is no step still to do, and no restart is
    offered; the page shows the election key, in French and English."""
    primary = seed_round_primary(
        client, candidates=2, credentials="voter",
        extra={"ballots": "encrypted", "trustees": 2, "trustee_threshold": 2},
    )  # fmt: skip
    page = client.get(f"/primaries/{primary.slug}/trustees")
    assert "scrutin trustee keygen" in page.text
    app = client.app
    pool, log = app.state.pool, app.state.log  # type: ignore[attr-defined]
    folders = [public_tmp_path / f"garant-{i}" for i in (1, 2)]

    async def ceremony() -> None:
        await local_ceremony(pool, log, primary.id, folders, ["A", "B"])

    client.portal.call(ceremony)  # type: ignore[union-attr]
    for language, done in (("fr", "Clé d’élection établie"), ("en", "Election key established")):
        page = client.get(
            f"/primaries/{primary.slug}/trustees", headers={"Accept-Language": language}
        )
        assert done in page.text and "<code>" in page.text
        assert "scrutin trustee keygen" not in page.text
        assert "/trustees/restart" not in page.text
