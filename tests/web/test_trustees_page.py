"""The trustees' page and registration API (web/views/trustees.py): the organiser registers
trustees by form or JSON, bad input is answered inline or with a field path and changes
nothing, others may not register, and the page says where the ceremony stands (French and
English)."""

from __future__ import annotations

import nacl.public
import nacl.signing
from starlette.testclient import TestClient

from crypto.encoding import b64encode
from tests.fixtures.accounts import another_client, api_request, csrf_token, post_form, sign_in
from tests.fixtures.primaries import definition_input, log_entries


def _keys() -> dict[str, str]:
    return {
        "signing_key": b64encode(bytes(nacl.signing.SigningKey.generate().verify_key)),
        "box_key": b64encode(bytes(nacl.public.PrivateKey.generate().public_key)),
    }


def _encrypted(organiser: TestClient, slug: str) -> None:
    made = api_request(
        organiser, "POST", "/api/primaries",
        definition_input(slug, credentials="voter", ballots="encrypted", trustees=2,
                         trustee_threshold=2),
    )  # fmt: skip
    assert made.status_code == 201, made.text


def test_the_organiser_registers_trustees_and_the_page_follows(
    client: TestClient, organiser_client: TestClient
) -> None:
    _encrypted(organiser_client, "chiffree")
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
    _encrypted(organiser_client, "chiffree")
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
