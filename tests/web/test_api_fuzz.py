"""Schemathesis against the app's own /api/openapi.json, through the ASGI app.

Every documented operation gets generated requests, valid (positive) and invalid (negative:
wrong types, missing members, out-of-range values, malformed bodies), sent by a signed-in
organiser with the CSRF header, once with generated path parameters and once pinned to a real
primary and candidacy. Every answer must be a non-5xx; under /api/ it must also be a
documented status whose body matches the documented schema: a success shape, or the JSON
error `{"error": {"status", "message", "field"?}}`, never a bare page or a traceback.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.conftest import _fresh_database, admin_execute, with_database
from tests.fixtures.primaries import definition_input
from voting.accounts import signin_secrets
from web.app import create_app
from web.settings import Settings
from web.views.api import openapi_document

schemathesis = pytest.importorskip("schemathesis")
from schemathesis.checks import not_a_server_error  # noqa: E402
from schemathesis.python import asgi  # noqa: E402
from schemathesis.specs.openapi.checks import (  # noqa: E402
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

pytestmark = pytest.mark.filterwarnings(
    "ignore::hypothesis.errors.HypothesisDeprecationWarning"  # raised inside schemathesis
)
MAX_EXAMPLES = int(os.environ.get("SCRUTIN_FUZZ_EXAMPLES", "20"))
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]
OPERATIONS = [
    (path, method)
    for path, item in openapi_document()["paths"].items()
    for method in item
    if method in ("get", "put", "post", "patch", "delete")
]


def _query(url: str, sql: str, *args: Any) -> list[asyncpg.Record]:
    async def run() -> list[asyncpg.Record]:
        conn = await asyncpg.connect(url)
        try:
            return await conn.fetch(sql, *args)
        finally:
            await conn.close()

    return asyncio.run(run())


@dataclass
class Browser:
    client: Any  # schemathesis' ASGI client (a requests.Session)
    token: str

    def call(self, method: str, url: str, **kwargs: Any) -> Any:
        headers = {"X-CSRF-Token": self.token, **kwargs.pop("headers", {})}
        return self.client.request(method, url, headers=headers, **kwargs)


def _sign_in(app: Any, url: str, email: str) -> Browser:
    client = asgi.get_client(app)
    client.__enter__()
    token = client.get("/api/session").json()["csrf_token"]
    browser = Browser(client, token)
    assert browser.call("POST", "/api/signin", json={"email": email}).status_code == 202
    # The mail is written at sending time; its code is derived from the request's id.
    rows = _query(
        url, "SELECT id FROM signin_tokens WHERE email = $1 ORDER BY created_at DESC", email
    )
    code = signin_secrets(app.state.secret_key, rows[0]["id"])[1]
    answer = browser.call("POST", "/api/signin/code", json={"email": email, "code": code})
    assert answer.status_code == 200, answer.text
    browser.token = answer.json()["csrf_token"]
    return browser


@dataclass
class World:
    schema: Any
    organiser: Browser
    slug: str
    candidacy: str
    database_url: str


@pytest.fixture(scope="module")
def world(
    pg_admin_url: str, template_database: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[World]:
    name = _fresh_database(pg_admin_url, template_database)
    url = with_database(pg_admin_url, name)
    data_dir: Path = tmp_path_factory.mktemp("fuzz") / "data"
    data_dir.mkdir()
    app = create_app(
        Settings(
            data_dir=data_dir,
            database_url=url,
            secret_key="fuzz-secret-key-0123456789abcdefghijklmnop",
            checkpoint_interval=0.2,
        )
    )
    try:
        schema = schemathesis.openapi.from_asgi("/api/openapi.json", app)
        organiser = _sign_in(app, url, "orga@example.org")
        _query(url, "UPDATE accounts SET is_organiser = true")
        citizen = _sign_in(app, url, "camille@example.org")
        created = organiser.call("POST", "/api/primaries", json=definition_input("fuzz"))
        assert created.status_code == 201, created.text
        declared = citizen.call(
            "POST",
            "/api/primaries/fuzz/candidacies",
            json={"name": "Camille", "programme": "# Idées", "charter_accepted": True,
                  "submit": True},
        )  # fmt: skip
        assert declared.status_code == 201, declared.text
        candidacy = declared.json()["id"]
        accepted = organiser.call("POST", f"/api/candidacies/{candidacy}/accept")
        assert accepted.status_code == 200, accepted.text
        yield World(schema, organiser, "fuzz", candidacy, url)
    finally:
        asgi.shutdown_lifespans()
        admin_execute(pg_admin_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def test_the_served_document_is_the_one_in_the_code(world: World) -> None:
    served = world.organiser.client.get("/api/openapi.json").json()
    assert served == openapi_document()


@pytest.mark.parametrize("pinned", [False, True], ids=["generated-ids", "real-ids"])
@pytest.mark.parametrize(("path", "method"), OPERATIONS, ids=[f"{m} {p}" for p, m in OPERATIONS])
def test_every_operation_answers_with_its_documented_shape(
    world: World, path: str, method: str, pinned: bool
) -> None:
    operation = world.schema[path][method.upper()]
    modes = [schemathesis.GenerationMode.POSITIVE, schemathesis.GenerationMode.NEGATIVE]
    strategy = st.one_of(*(operation.as_strategy(generation_mode=mode) for mode in modes))

    @given(case=strategy)
    @settings(
        max_examples=MAX_EXAMPLES,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    def run(case: Any) -> None:
        if pinned and case.path_parameters:
            if "slug" in case.path_parameters:
                case.path_parameters["slug"] = world.slug
            if "id" in case.path_parameters:
                case.path_parameters["id"] = world.candidacy
        response = case.call(
            session=world.organiser.client, headers={"X-CSRF-Token": world.organiser.token}
        )
        # Pages outside /api/ that the document lists (open data files, receipts) answer
        # errors as HTML pages for people: for them only "never a 5xx" is checked here.
        checks = CHECKS if path.startswith("/api/") else [not_a_server_error]
        case.validate_response(response, checks=checks)

    run()
