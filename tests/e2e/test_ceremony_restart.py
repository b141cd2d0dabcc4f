"""A key ceremony stopped by a complaint, restarted by the organiser over the API with a new
trustee, and finished by three `scrutin trustee` processes against a live service on loopback
(k = 2); the exported log verifies with scrutin-audit (docs/trustees.md, docs/audit-log.md §10
item 5). The organiser's API calls go through the app on the same database, as in
tests/e2e/test_encrypted_round_over_http.py."""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from starlette.testclient import TestClient

from crypto import trustees as math
from crypto.encoding import b64decode, b64encode
from tests.fixtures.accounts import another_client, api_request, sign_in
from tests.fixtures.live import REPO, LiveService, start_keygens, trustee
from tests.fixtures.trustees import encrypted_primary_by_api
from tests.fixtures.waiting import wait_until
from web.settings import Settings
from web.trustee import Service, TrusteeKeys, keygen_body


def _false_share_to_1(folder: Path, ceremony: dict) -> dict:
    """Trustee 3's keygen, signed with its key, whose share to trustee 1 misses its
    commitments (the others are honest)."""
    keys, origin = TrusteeKeys(folder), ceremony["origin"]
    dealing = math.deal(origin, 3, ceremony["threshold"])
    body = {k: v for k, v in keygen_body(keys, ceremony, 3, dealing).items() if k != "trustee_sig"}
    one = next(t for t in ceremony["trustees"] if t["index"] == 1)
    wrong = (dealing.share_for(1) + 1) % math.L
    sealed = math.seal_share(origin, 3, 1, wrong, bytes(keys.box), b64decode(one["box_key"]))
    body["shares"][0] = {"box": b64encode(sealed), "to": 1}
    return keys.sign("trustee-keygen", origin, body)


def _register(organiser: TestClient, slug: str, folder: Path, name: str) -> int:
    """`scrutin trustee init` in `folder`, then the organiser registers its keys."""
    made = trustee("init", str(folder))
    assert made.returncode == 0, made.stderr
    signing, box = (line.split()[-1] for line in made.stdout.splitlines()[:2])
    registered = api_request(
        organiser, "POST", f"/api/primaries/{slug}/trustees",
        {"name": name, "signing_key": signing, "box_key": box},
    )  # fmt: skip
    assert registered.status_code == 201, registered.text
    return int(registered.json()["index"])


def _restart(organiser: TestClient, slug: str, reason: str) -> None:
    restarted = api_request(
        organiser, "POST", f"/api/primaries/{slug}/trustees/restart",
        {"replaced": [3], "reason": reason},
    )  # fmt: skip
    assert restarted.status_code == 201 and restarted.json() == {"attempt": 2}


@dataclass
class Ceremony:
    organiser: TestClient
    slug: str
    live: LiveService
    api: Service
    folders: list[Path]


@contextmanager
def _three_trustees(client: TestClient, settings: Settings, tmp: Path) -> Iterator[Ceremony]:
    """An encrypted primary with three registered trustees (folders trustee-1…3) and a live
    service on loopback for their `scrutin trustee` processes."""
    slug = f"r-{uuid.uuid4().hex[:8]}"
    organiser = another_client(client)
    sign_in(organiser, f"orga-{slug}@example.org", organiser=True)
    encrypted_primary_by_api(organiser, slug, trustees=3)
    live = LiveService(settings.database_url, tmp / "live", settings.secret_key or "")
    try:
        folders = [tmp / f"trustee-{i}" for i in (1, 2, 3)]
        for i, folder in enumerate(folders, start=1):
            assert _register(organiser, slug, folder, f"Garant {i}") == i
        yield Ceremony(organiser, slug, live, Service(live.url, slug), folders)
    finally:
        live.stop()


def test_a_complaint_then_a_restart_with_a_new_trustee_gives_the_key(
    client: TestClient, settings: Settings, public_tmp_path: Path
) -> None:
    with _three_trustees(client, settings, public_tmp_path) as c:
        organiser, slug, live, api, folders = c.organiser, c.slug, c.live, c.api, c.folders
        api.post("keygen", _false_share_to_1(folders[2], api.ceremony()))

        # Trustees 1 and 2 take part: 1 complains about 3, and the ceremony stops.
        runs = start_keygens(live.url, slug, folders[:2])
        outputs = [run.communicate(timeout=300) for run in runs]
        assert [run.returncode for run in runs] == [1, 1], outputs
        assert "shares from trustees [3] are false" in outputs[0][0]
        ceremony = api.ceremony()
        assert ceremony["state"] == "failed" and ceremony["attempt"] == 1

        # The organiser restarts it, replacing trustee 3 with a new one.
        reason = "Le garant 3 a envoyé une part fausse au garant 1."
        _restart(organiser, slug, reason)
        folders[2] = public_tmp_path / "trustee-3-bis"
        assert _register(organiser, slug, folders[2], "Garante 3") == 3

        runs = start_keygens(live.url, slug, folders)
        outputs = [run.communicate(timeout=300) for run in runs]
        for run, (out, err) in zip(runs, outputs, strict=True):
            assert run.returncode == 0, (out, err)
        assert "attempt 2 of the key ceremony: a new polynomial is drawn" in outputs[0][0]
        ceremony = api.ceremony()
        assert (ceremony["state"], ceremony["attempt"]) == ("done", 2)
        assert ceremony["restarts"] == [{"attempt": 2, "replaced": [3], "reason": reason}]
        assert {out.strip().splitlines()[-1] for out, _ in outputs} == {
            f"election key {ceremony['election_key']}"
        }
        shown = trustee("status", "--url", live.url, "--primary", slug, "--key", str(folders[0]))
        assert shown.returncode == 0, shown.stderr
        assert "state done, attempt 2" in shown.stdout
        assert f'restart to attempt 2: trustee(s) replaced 3; reason: "{reason}"' in shown.stdout
        # Trustee 1 kept only the new attempt's secret share, its polynomial dropped.
        (state,) = (json.loads(p.read_text()) for p in folders[0].glob("*.json")
                    if p.name != "trustee-key.json")  # fmt: skip
        assert state["attempt"] == 2 and "secret_share" in state and "coefficients" not in state

        export = public_tmp_path / "export.json"
        export.write_text(live.get(f"/primaries/{slug}/log/export"))
        vkey = live.get(f"/primaries/{slug}/log/vkey").strip()
        done = subprocess.run(
            [sys.executable, "-m", "audit", "verify", str(export), "--log-key", vkey],
            cwd=REPO, capture_output=True, text=True, timeout=600, check=False,
        )  # fmt: skip
        assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]


def test_trustees_waiting_for_an_absent_one_take_part_again_when_the_organiser_restarts(
    client: TestClient, settings: Settings, public_tmp_path: Path
) -> None:
    """Trustee 3 never runs its key generation; trustees 1 and 2, waiting for it, see the
    organiser's restart, draw new polynomials for attempt 2 and finish with the new trustee 3
    (no one has to start their command again)."""
    with _three_trustees(client, settings, public_tmp_path) as c:
        organiser, slug, live, api, folders = c.organiser, c.slug, c.live, c.api, c.folders
        waiting = start_keygens(live.url, slug, folders[:2])
        wait_until(
            lambda: [bool(t["keygen"]) for t in api.ceremony()["trustees"]] == [True, True, False],
            "trustees 1 and 2 to post their key generation and wait for trustee 3",
        )
        _restart(organiser, slug, "Le garant 3 ne s'est pas présenté.")
        folders[2] = public_tmp_path / "trustee-3-bis"
        assert _register(organiser, slug, folders[2], "Garante 3") == 3
        runs = [*waiting, *start_keygens(live.url, slug, folders[2:])]
        outputs = [run.communicate(timeout=300) for run in runs]
        for run, (out, err) in zip(runs, outputs, strict=True):
            assert run.returncode == 0, (out, err)
        for out, _err in outputs[:2]:
            assert "the organiser restarted the key ceremony (attempt 2)" in out
            assert "attempt 2 of the key ceremony: a new polynomial is drawn" in out
        ceremony = api.ceremony()
        assert (ceremony["state"], ceremony["attempt"]) == ("done", 2)
        assert {out.strip().splitlines()[-1] for out, _ in outputs} == {
            f"election key {ceremony['election_key']}"
        }
