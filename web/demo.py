"""`scrutin demo`: a primary with content, so that a newcomer sees a living site.

Everything goes through the services, so the demo primary's public log holds its definition,
the candidacies at every stage (draft, submitted, published, qualified, confirmed), the
pseudonymous supports and the qualifications, exactly as a real primary would.

Idempotent: the demo content is created once per data dir, in one transaction; later starts
only print the organiser's sign-in again (with a fresh password, since only its hash is
stored).

The demo primary's calendar is placed in the past so that its story really happened in its
phases: candidacies and supports a month ago, round 1 two weeks ago (closed, result
published), round 2 open now. Every entry is made at a moment of that calendar by a
`DemoClock` that the services take (`now=`) and the log service reads (`clock=`), so the
log's times agree with the phases every page shows, and `scrutin-audit`'s timeline check
(docs/audit-log.md §9, check 11) passes. Nothing is rewritten afterwards.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
from nacl.signing import SigningKey

from voting import accounts, candidacies, credentials, supports
from voting.definition import DEFAULTS, format_instant, parse_instant
from voting.log import LogService
from voting.log import readers as log_readers
from voting.primaries import Primary, create_primary, get_primary
from voting.unit_of_work import UnitOfWork
from web.demo_rounds import seed_rounds
from web.demo_witnesses import DemoWitness
from web.demo_witnesses import policy as demo_policy
from web.settings import Settings, resolve_secret_key

DEMO_SLUG = "demo"
# A second primary still gathering supports: the first one is already voting, and supports
# stop when voting starts, so this is where a visitor can declare, be supported and qualify.
SUPPORTS_SLUG = "demo-soutiens"
# A third primary whose ballots are encrypted in the voter's browser and tallied by 2 of 3
# trustees without any ballot being decrypted (issue 14; web/demo_rounds.py plays them).
ENCRYPTED_SLUG = "demo-chiffree"
ORGANISER_EMAIL = "organisatrice@demo.scrutin.localhost"
CITIZEN_EMAIL = "citoyen-{:02d}@demo.scrutin.localhost"
CANDIDATE_EMAIL = "candidat-{}@demo.scrutin.localhost"
CITIZENS = 8

CHARTER = (
    "Je m’engage à défendre mon programme avec honnêteté, à respecter les autres candidats "
    "et les citoyens, et à rendre publics mes soutiens financiers.\n\n"
    "Je m’engage, si je suis désigné·e, à porter le programme présenté ici."
)

# (key, name, bio, programme, stage, supports to receive)
CANDIDATES: list[tuple[str, str, str, str, str, int]] = [
    ("thomas", "Thomas Nguyen", "Ingénieur en énergie, 41 ans, Lyon.",
     "## Énergie\n\n- Rénover **un million** de logements par an\n- Des coopératives "
     "citoyennes d’énergie solaire\n\n## Démocratie\n\nUn référendum d’initiative citoyenne.",
     "confirmed", 3),
    ("sophie", "Sophie Marchand", "Infirmière, 35 ans, Rennes.",
     "## Santé\n\n1. Pas de territoire à plus de 30 minutes d’un médecin\n2. Revaloriser les "
     "soignants\n\n> La santé n’est pas une marchandise.",
     "confirmed", 4),
    ("karim", "Karim Haddad", "Professeur des écoles, 47 ans, Marseille.",
     "## Éducation\n\n- 20 élèves par classe au plus\n- Une heure de *débat citoyen* par "
     "semaine au collège", "confirmed", 3),
    ("lucie", "Lucie Bernard", "Agricultrice bio, 38 ans, Gers.",
     "## Agriculture\n\n- Des prix planchers pour les producteurs\n- La cantine bio et locale "
     "partout\n\n[Mon exploitation](https://example.org/lucie)", "confirmed", 3),
    ("marc", "Marc Dubois", "Chef d’entreprise, 52 ans, Lille.",
     "## Travail\n\n- Simplifier la création d’entreprise\n- Le partage de la valeur dans "
     "toutes les PME", "qualified", 3),
    ("claire", "Claire Fontaine", "Juriste, 29 ans, Nantes.",
     "## Justice\n\n- Une justice plus rapide\n- L’aide juridictionnelle pour tous",
     "published", 2),
    ("yann", "Yann Le Gall", "Marin pêcheur, 44 ans, Douarnenez.",
     "## Mer\n\n- Protéger la pêche artisanale\n- Des aires marines vraiment protégées",
     "published", 1),
    ("nadia", "Nadia Benali", "Étudiante en urbanisme, 24 ans, Grenoble.",
     "## Logement\n\nEncadrer les loyers dans toutes les grandes villes.", "submitted", 0),
    ("hugo", "Hugo Lambert", "Informaticien, 33 ans, Toulouse.",
     "## Numérique\n\n(brouillon) Des logiciels libres dans l’administration.", "draft", 0),
]  # fmt: skip


# Candidates of the second primary: all collecting supports, none qualified yet.
SUPPORTS_CANDIDATES: list[tuple[str, str, str, str, str, int]] = [
    ("ines", "Inès Moreau", "Urbaniste, 39 ans, Bordeaux.",
     "## Mobilités\n\n- Des trains de nuit partout\n- Le vélo dans chaque commune",
     "published", 2),
    ("paul", "Paul Girard", "Boulanger, 56 ans, Dijon.",
     "## Commerce de proximité\n\n- Baisser les charges des artisans", "published", 1),
    ("amina", "Amina Diallo", "Médecin, 45 ans, Créteil.",
     "## Santé publique\n\n- Un centre de santé par canton", "published", 0),
]  # fmt: skip


def device_seed(secret_key: str, email: str) -> bytes:
    """The Ed25519 seed the demo makes "on the device" of the account `email` (the seeding
    plays the citizens' browsers). Derived from the service secret, so that the console can
    print the visitor's recovery code again on every start without storing it."""
    return hmac.new(secret_key.encode(), f"demo-device/{email}".encode(), hashlib.sha256).digest()


def recovery_code(seed: bytes) -> str:
    """The recovery code the key page shows for a seed (static/credentials.js)."""
    return base64.urlsafe_b64encode(seed).decode("ascii").rstrip("=")


async def register_device_key(
    conn: asyncpg.Connection,
    log: LogService,
    secret_key: str,
    primary_id: Any,
    account_id: Any,
    email: str,
    *,
    now: datetime,
    replace: bool = False,
    salt: str = "",
) -> SigningKey:
    """What the key page does in the citizen's browser: make a key, register its public
    half (`replace`: the key in force is lost and revoked in the same entry)."""
    key = SigningKey(device_seed(secret_key, email + salt))
    await credentials.register(
        conn, log, secret_key=secret_key, primary_id=primary_id, account_id=account_id,
        public_key=bytes(key.verify_key), replace=replace, now=now,
    )  # fmt: skip
    return key


class DemoClock:
    """The demo's notion of now: set to a moment of the demo's calendar and moved forward
    by the seeding, action after action. Passed to the log service (`clock=`) and, as
    `now=`, to the services that check a phase."""

    def __init__(self, moment: datetime) -> None:
        self.moment = moment

    def __call__(self) -> datetime:
        return self.moment

    def step(self, delta: timedelta = timedelta(minutes=10)) -> datetime:
        self.moment += delta
        return self.moment


def demo_log(settings: Settings) -> tuple[str, DemoClock, LogService]:
    """The service secret, a demo clock set to now, and the log service that dates its
    entries by that clock: what every seeding step takes."""
    secret_key = resolve_secret_key(settings)
    clock = DemoClock(datetime.now(UTC))
    log = LogService(
        secret_key=secret_key,
        public_host=settings.public_host,
        checkpoint_interval=settings.checkpoint_interval,
        clock=clock,
    )
    return secret_key, clock, log


def _on_the_hour(moment: datetime) -> datetime:
    """Calendars are announced in whole hours, as an organiser would (times with seconds
    also widen the calendar past a phone's screen)."""
    return moment.replace(minute=0, second=0, microsecond=0)


def supports_definition(now: datetime | None = None) -> dict[str, Any]:
    """The second demo primary: candidacies and supports open for weeks, no vote yet."""
    moment = _on_the_hour(now or datetime.now(UTC))
    day = timedelta(days=1)
    definition = demo_definition(now)
    definition.update(
        slug=SUPPORTS_SLUG,
        title="Primaire citoyenne de démonstration : appel à candidatures",
        description="Déclarez votre candidature, faites-la accepter, puis recueillez trois "
        "soutiens pour vous qualifier.",
        phases=[
            {"name": "candidacies", "start": format_instant(moment - 7 * day),
             "end": format_instant(moment + 14 * day)},
            {"name": "supports", "start": format_instant(moment - 7 * day),
             "end": format_instant(moment + 21 * day)},
            {"name": "round-1", "start": format_instant(moment + 22 * day),
             "end": format_instant(moment + 29 * day)},
            {"name": "results", "start": format_instant(moment + 29 * day),
             "end": format_instant(moment + 90 * day)},
        ],
    )  # fmt: skip
    # Visitors declare and support here from any browser: the service signs, as by default.
    definition.pop("credentials", None)
    return definition


def encrypted_definition(now: datetime | None = None) -> dict[str, Any]:
    """The encrypted demo primary: the demo's calendar, ballots encrypted in the browser
    under a key that three trustees make together, two of whom decrypt the tally."""
    definition = demo_definition(now)
    definition.update(
        slug=ENCRYPTED_SLUG,
        title="Primaire citoyenne chiffrée (démonstration)",
        description="Les bulletins sont chiffrés dans le navigateur ; trois garants ont établi "
        "la clé de l’élection, et deux d’entre eux déchiffrent les seuls totaux : aucun "
        "bulletin n’est jamais ouvert, par personne.",
        ballots="encrypted",
        trustees=3,
        trustee_threshold=2,
    )
    return definition


def demo_definition(now: datetime | None = None) -> dict[str, Any]:
    """The demo's definition, its calendar placed so that round 2 is open at `now`:
    candidacies and supports a month before, round 1 two weeks before (closed)."""
    moment = _on_the_hour(now or datetime.now(UTC))
    day = timedelta(days=1)
    return {
        **DEFAULTS,  # the service's defaults (French scale, majority value, normalize, …)
        "title": "Primaire citoyenne de démonstration",
        "slug": DEMO_SLUG,
        "description": "Une primaire fictive pour découvrir Scrutin : déclarez-vous, soutenez "
        "des candidats, puis évaluez-les au jugement majoritaire.",
        "threshold": 3,
        "support_cap": 3,
        # Every ballot and support signed by the citizen's own key (docs/audit-log.md §8).
        "credentials": "voter",
        "phases": [
            {"name": "candidacies", "start": format_instant(moment - 35 * day),
             "end": format_instant(moment - 16 * day)},
            {"name": "supports", "start": format_instant(moment - 35 * day),
             "end": format_instant(moment - 15 * day)},
            {"name": "round-1", "start": format_instant(moment - 14 * day),
             "end": format_instant(moment - 8 * day)},
            {"name": "round-2", "start": format_instant(moment - 7 * day),
             "end": format_instant(moment + 7 * day)},
            {"name": "results", "start": format_instant(moment + 7 * day),
             "end": format_instant(moment + 90 * day)},
        ],
    }  # fmt: skip


async def _account(
    conn: asyncpg.Connection, email: str, name: str, *, organiser: bool = False
) -> Any:
    return await conn.fetchval(
        """
        INSERT INTO accounts (email, display_name, is_organiser, email_verified_at)
        VALUES ($1, $2, $3, now())
        ON CONFLICT (email) DO UPDATE SET is_organiser = accounts.is_organiser OR $3
        RETURNING id
        """,
        email,
        name,
        organiser,
    )


async def _seed_primary(
    conn: asyncpg.Connection,
    log: LogService,
    secret_key: str,
    organiser: Any,
    definition: dict[str, Any] | None = None,
    candidates: list[tuple[str, str, str, str, str, int]] = CANDIDATES,
    *,
    clock: DemoClock,
) -> Primary:
    """A demo primary and its candidacies and supports, all through the services, each at
    the next moment of `clock` (which starts just after the candidacies phase opens)."""
    definition = definition or demo_definition()
    clock.moment = parse_instant(definition["phases"][0]["start"], "start") + timedelta(hours=1)
    primary = await create_primary(conn, log, definition, created_by=organiser, charter=CHARTER)
    citizens = [
        await _account(conn, CITIZEN_EMAIL.format(i), f"Citoyen·ne {i}")
        for i in range(1, CITIZENS + 1)
    ]
    keys: dict[Any, SigningKey] = {}
    origin = await log_readers.origin(conn, primary.id)
    assert origin is not None  # a primary's log is created with it
    if credentials.uses_voter_credentials(definition):  # each citizen makes a key first
        for i, citizen in enumerate(citizens, start=1):
            keys[citizen] = await register_device_key(
                conn, log, secret_key, primary.id, citizen, CITIZEN_EMAIL.format(i),
                now=clock.step(timedelta(minutes=3)),
            )  # fmt: skip
    given = 0  # supports are spread over the citizens, within each one's cap of 3
    for key, name, bio, programme, stage, wanted in candidates:
        owner = await _account(conn, CANDIDATE_EMAIL.format(key), name)
        candidacy = await candidacies.declare(
            conn, primary, owner,
            {"name": name, "bio": bio, "programme": programme,
             "links": [f"https://example.org/{key}"]},
            charter_accepted=True, now=clock.step(),
        )  # fmt: skip
        if stage == "draft":
            continue
        await candidacies.submit(conn, log, candidacy.id, owner, now=clock.step())
        if stage == "submitted":
            continue
        clock.step(timedelta(hours=5))  # moderation takes a few hours
        await candidacies.publish(conn, log, candidacy.id)
        for _ in range(wanted):
            supporter = citizens[given % CITIZENS]
            signature = None
            if supporter in keys:  # signed on the citizen's device, as the support button does
                message = credentials.support_message(origin, str(candidacy.id))
                signature = keys[supporter].sign(message).signature
            result = await supports.support(
                conn, log, secret_key=secret_key, candidacy_id=candidacy.id,
                account_id=supporter, now=clock.step(timedelta(hours=7)),
                credential_sig=signature,
            )  # fmt: skip
            given += 1
            if result.qualified:
                break
        if stage == "confirmed":
            clock.step(timedelta(hours=3))
            await candidacies.confirm(conn, log, candidacy.id, owner)
    return primary


async def seed_demo(
    database_url: str, settings: Settings, witnesses: Sequence[DemoWitness] = ()
) -> list[str]:
    """Create the demo content if missing; return the lines to print on the console.

    With `witnesses` (running, web/demo_witnesses.py) the demo primaries are created with a
    2-of-2 witness policy, and the witnesses are told to witness their logs."""
    extra = {"witness_policy": demo_policy(list(witnesses))} if witnesses else {}
    from web.app import create_pool

    secret_key, clock, log = demo_log(settings)
    password = secrets.token_urlsafe(12)
    pool = await create_pool(database_url, min_size=1, max_size=2)
    try:
        async with UnitOfWork(pool, log) as uow:
            conn = uow.conn
            organiser = await _account(
                conn, ORGANISER_EMAIL, "Organisatrice de la démo", organiser=True
            )
            await accounts.set_password(conn, organiser, password)
            primary = await get_primary(conn, DEMO_SLUG)
            if primary is None:
                primary = await _seed_primary(
                    conn, uow.log, secret_key, organiser, demo_definition() | extra, clock=clock
                )
            second = await get_primary(conn, SUPPORTS_SLUG)
            if second is None:
                second = await _seed_primary(
                    conn, uow.log, secret_key, organiser, supports_definition() | extra,
                    SUPPORTS_CANDIDATES, clock=clock,
                )  # fmt: skip
            third = await get_primary(conn, ENCRYPTED_SLUG)
            if third is None:
                third = await _seed_primary(
                    conn, uow.log, secret_key, organiser, encrypted_definition() | extra,
                    clock=clock,
                )  # fmt: skip
            for witness in witnesses:  # from now on they witness the logs
                for seeded in (primary, second, third):
                    witness.add_log(await log.vkey(conn, seeded.id))
            uow.checkpoint(primary.id)  # and cosign the checkpoints published after commit
            uow.checkpoint(second.id)
            uow.checkpoint(third.id)
    finally:
        await pool.close()
    lines = [
        "Demo primary ready: " + f"{settings.base_url}/primaries/{DEMO_SLUG}",
        "Demo primary gathering supports: " + f"{settings.base_url}/primaries/{SUPPORTS_SLUG}",
        f"Organiser sign-in: {settings.base_url}/signin",
        f"  e-mail:   {ORGANISER_EMAIL}",
        f"  password: {password}",
    ]
    # Rounds (web/demo_rounds.py) come after the candidacies: they need confirmed ones.
    lines += await seed_rounds(database_url, settings)
    return lines
