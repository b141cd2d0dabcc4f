"""Primaries: definition validation and phases (pure), creation and revisions (database)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest

from crypto import canonical
from tests.fixtures.primaries import (
    definition_input,
    logged,
    make_account,
    make_primary,
    open_phases,
)
from tests.fixtures.waiting import wait_until_blocked
from voting.definition import (
    DEFAULT_THRESHOLD,
    FRENCH_GRADES,
    LAPRIMAIRE_GRADES,
    current_phase,
    phase_state,
    validate_definition,
)
from voting.log import LogService
from voting.primaries import (
    create_primary,
    get_primary,
    mark_voting_started,
    update_definition,
    voting_has_started,
)
from voting.refusals import Refused

NOW = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)
PHASES = [
    {"name": "candidacies", "start": "2026-03-01T00:00:00Z", "end": "2026-03-15T00:00:00Z"},
    {"name": "supports", "start": "2026-03-05T00:00:00Z", "end": "2026-03-31T00:00:00Z"},
    {"name": "round-1", "start": "2026-04-01T00:00:00Z", "end": "2026-04-08T00:00:00Z"},
    {"name": "round-2", "start": "2026-04-10T00:00:00Z", "end": "2026-04-17T00:00:00Z"},
    {"name": "results", "start": "2026-04-17T00:00:00Z", "end": "2026-05-17T00:00:00Z"},
]


def refused_field(data: object) -> str | None:
    with pytest.raises(Refused) as info:
        validate_definition(data)
    return info.value.field


# -- definition (pure) --------------------------------------------------------------------


def test_defaults_fill_a_minimal_definition_with_every_log_member() -> None:
    body = validate_definition({"title": " Ma primaire ", "slug": "ma-primaire", "phases": PHASES})
    assert body["revision"] == 1
    assert body["title"] == "Ma primaire"
    assert body["threshold"] == DEFAULT_THRESHOLD == 500
    assert body["grades"] == list(FRENCH_GRADES)
    assert body["qualification"] == "threshold"
    assert body["rule"] == "majority-value" and body["missing"] == "normalize"
    assert set(body) == {
        "revision", "title", "slug", "description", "threshold", "support_cap",
        "qualification", "grades", "rule", "missing", "default_grade", "upper_median",
        "subset_size", "allow_blank", "eligibility", "refuse_disposable", "phases",
    }  # fmt: skip
    assert body["refuse_disposable"] is False
    canonical.dumps(body)  # fits the log's canonical JSON (integers, NFC strings)


def test_laprimaire_preset_and_nfc_normalisation() -> None:
    body = validate_definition(
        {"title": "Prima\u0301ire", "slug": "p", "phases": PHASES, "grades": "laprimaire-6"}
    )
    assert body["grades"] == list(LAPRIMAIRE_GRADES) and len(body["grades"]) == 6
    assert body["title"] == "Prim\u00e1ire"


def test_phases_are_normalised_to_utc_seconds_and_sorted() -> None:
    phases = [
        {"name": "supports", "start": "2026-03-05T01:00:00+01:00", "end": "2026-03-31T00:00"},
        {"name": "candidacies", "start": "2026-03-01T00:00:00.5Z", "end": "2026-03-15T00:00Z"},
    ]
    body = validate_definition({"title": "T", "slug": "t", "phases": phases})
    assert body["phases"] == [
        {"name": "candidacies", "start": "2026-03-01T00:00:00Z", "end": "2026-03-15T00:00:00Z"},
        {"name": "supports", "start": "2026-03-05T00:00:00Z", "end": "2026-03-31T00:00:00Z"},
    ]


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"slug": "Bad Slug"}, "slug"),
        ({"slug": "-x"}, "slug"),
        ({"title": ""}, "title"),
        ({"title": "x" * 201}, "title"),
        ({"title": 12}, "title"),
        ({"title": "a\x00b"}, "title"),
        ({"description": "x" * 10_001}, "description"),
        ({"threshold": 0}, "threshold"),
        ({"threshold": "500"}, None),  # a numeric string from a form is fine
        ({"threshold": 1.5}, "threshold"),
        ({"threshold": True}, "threshold"),
        ({"support_cap": -1}, "support_cap"),
        ({"qualification": "whenever"}, "qualification"),
        ({"grades": ["Bien"]}, "grades"),
        ({"grades": ["Bien", "bien"]}, "grades[1]"),
        ({"grades": ["Bien", ""]}, "grades[1]"),
        ({"grades": [str(i) for i in range(11)]}, "grades"),
        ({"default_grade": 7}, "default_grade"),
        ({"rule": "plurality"}, "rule"),
        ({"missing": "ignore"}, "missing"),
        ({"upper_median": "yes"}, "upper_median"),
        ({"subset_size": 1}, "subset_size"),
        ({"allow_blank": 1}, "allow_blank"),
        ({"eligibility": "anyone"}, "eligibility"),
        ({"surprise": 1}, "surprise"),
        ({"phases": "soon"}, "phases"),
        ({"phases": [PHASES[0]]}, "phases"),
        (
            {"phases": [*PHASES, {"name": "party", "start": "2026-06-01", "end": "2026-06-02"}]},
            "phases[5].name",
        ),
        ({"phases": [PHASES[0], {**PHASES[1], "end": "2026-03-01T00:00:00Z"}]}, "phases[1].end"),
        ({"phases": [PHASES[0], {**PHASES[1], "start": "tomorrow"}]}, "phases[1].start"),
        ({"phases": [PHASES[0], PHASES[1], PHASES[3]]}, "phases"),  # round-2 without round-1
        (
            {"phases": [PHASES[0], PHASES[1], {**PHASES[2], "start": "2026-03-20T00:00:00Z"}]},
            "phases[2].start",
        ),
        ({"phases": [{**PHASES[0], "end": "2026-04-15T00:00:00Z"}, PHASES[1]]}, "phases[1].end"),
        ({"phases": [PHASES[0], PHASES[0], PHASES[1]]}, "phases[1].name"),
    ],
)
def test_bad_definitions_are_refused_with_the_field(changes: dict, field: str | None) -> None:
    data = {"title": "T", "slug": "t", "phases": PHASES, **changes}
    if field is None:
        validate_definition(data)
    else:
        assert refused_field(data) == field


def test_a_definition_must_be_an_object() -> None:
    assert refused_field(["not", "an", "object"]) is None
    with pytest.raises(Refused):
        validate_definition("x")


# -- phases (pure) ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("moment", "expected", "open_"),
    [
        ("2026-02-01T00:00:00Z", "upcoming", []),
        ("2026-03-01T00:00:00Z", "candidacies", ["candidacies"]),
        ("2026-03-10T12:00:00Z", "supports", ["candidacies", "supports"]),
        ("2026-03-15T00:00:00Z", "supports", ["supports"]),  # end is exclusive
        ("2026-03-31T12:00:00Z", "between", []),
        ("2026-04-02T00:00:00Z", "round-1", ["round-1"]),
        ("2026-04-09T00:00:00Z", "between", []),
        ("2026-04-20T00:00:00Z", "results", ["results"]),
        ("2026-06-01T00:00:00Z", "over", []),
    ],
)
def test_current_phase_from_the_dates(moment: str, expected: str, open_: list[str]) -> None:
    now = datetime.fromisoformat(moment.replace("Z", "+00:00"))
    assert current_phase(PHASES, now) == expected
    assert phase_state(PHASES, now).current == open_


def test_timeline_statuses_and_next_phase() -> None:
    state = phase_state(PHASES, NOW)
    assert [p.status for p in state.timeline] == [
        "current",
        "current",
        "future",
        "future",
        "future",
    ]
    assert state.next is not None and state.next.name == "round-1"
    assert state.is_open("supports") and not state.is_open("round-1")
    assert current_phase([], NOW) == "upcoming"


# -- services (database) ------------------------------------------------------------------


@pytest.mark.anyio
async def test_creating_a_primary_creates_its_log_with_the_definition_first(
    primary_pool: asyncpg.Pool, log_service: LogService
) -> None:
    async with primary_pool.acquire() as conn:
        organiser = await make_account(conn, organiser=True)
        primary = await make_primary(conn, log_service, "alpha", created_by=organiser)
    assert primary.revision == 1 and primary.definition["slug"] == "alpha"
    await log_service.publish_checkpoint(primary_pool, primary.id)
    found = await logged(primary_pool, log_service, primary.id)
    assert found == [("definition", primary.definition)]
    assert found[0][1]["revision"] == 1


@pytest.mark.anyio
async def test_a_change_appends_the_next_revision_and_keeps_the_old_one(
    primary_pool: asyncpg.Pool, log_service: LogService
) -> None:
    async with primary_pool.acquire() as conn:
        primary = await make_primary(conn, log_service, "beta")
        async with conn.transaction():
            changed = await update_definition(
                conn, log_service, primary.id, {"threshold": 10, "title": "Bêta"}, by=None
            )
        async with conn.transaction():  # no change: no new revision
            same = await update_definition(
                conn, log_service, primary.id, {"threshold": 10}, by=None
            )
    assert changed.revision == 2 and same.revision == 2
    found = await logged(primary_pool, log_service, primary.id)
    assert [(k, b["revision"], b["threshold"]) for k, b in found] == [
        ("definition", 1, 3),
        ("definition", 2, 10),
    ]


@pytest.mark.anyio
async def test_changes_are_refused_once_voting_has_started(
    primary_pool: asyncpg.Pool, log_service: LogService
) -> None:
    async with primary_pool.acquire() as conn:
        primary = await make_primary(conn, log_service, "gamma")
        assert not await voting_has_started(conn, primary.id)
        await mark_voting_started(conn, primary.id)
        assert await voting_has_started(conn, primary.id)
        with pytest.raises(Refused) as info:
            async with conn.transaction():
                await update_definition(conn, log_service, primary.id, {"threshold": 9}, by=None)
        assert info.value.reason == "voting-started"
        assert (await get_primary(conn, "gamma")).revision == 1  # type: ignore[union-attr]
    assert len(await logged(primary_pool, log_service, primary.id)) == 1


@pytest.mark.anyio
async def test_slug_is_unique_and_cannot_change(
    primary_pool: asyncpg.Pool, log_service: LogService
) -> None:
    async with primary_pool.acquire() as conn:
        primary = await make_primary(conn, log_service, "delta")
        with pytest.raises(Refused) as info:
            async with conn.transaction():
                await create_primary(conn, log_service, definition_input("delta"), created_by=None)
        assert info.value.field == "slug" and info.value.reason == "slug-taken"
        with pytest.raises(Refused) as info:
            async with conn.transaction():
                await update_definition(conn, log_service, primary.id, {"slug": "eps"}, by=None)
        assert info.value.field == "slug"


@pytest.mark.anyio
async def test_the_same_primary_created_three_times_at_once_is_one_primary(
    primary_pool: asyncpg.Pool, log_service: LogService
) -> None:
    """A double-click (or a script's retry) sends the creation again while the first one is
    still running: the others are refused as a taken slug, never a server error."""

    async def create() -> object:
        async with primary_pool.acquire() as conn, conn.transaction():
            await create_primary(conn, log_service, definition_input("twice"), created_by=None)
            await wait_until_blocked(primary_pool, 2)  # the others wait for this one
        return "created"

    outcomes = await asyncio.gather(*(create() for _ in range(3)), return_exceptions=True)
    assert outcomes.count("created") == 1
    refused = [o for o in outcomes if isinstance(o, Refused)]
    assert len(refused) == 2 and all(
        r.field == "slug" and r.reason == "slug-taken" for r in refused
    )
    count = await primary_pool.fetchval("SELECT count(*) FROM primaries WHERE slug = 'twice'")
    assert count == 1


def test_open_phases_fixture_is_valid() -> None:
    now = datetime.now(UTC)
    assert phase_state(open_phases(now), now + timedelta(seconds=1)).current == [
        "candidacies",
        "supports",
    ]
