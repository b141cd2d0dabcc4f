"""The Starlette application factory and its lifespan (settings, pool, background tasks)."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager

import asyncpg
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.routing import BaseRoute, Mount
from starlette.staticfiles import StaticFiles

from voting.log import LogService, log_background
from voting.mail import mail_service
from voting.notifications import configure as configure_notifications
from voting.unit_of_work import UnitsOfWork
from web import errors
from web.auth import middleware as security_middleware
from web.headers import SecurityHeadersMiddleware
from web.proxies import ProxyHeadersMiddleware
from web.ratelimit import DatabaseRateLimiter
from web.settings import Settings, resolve_secret_key
from web.templating import make_templates
from web.views import (
    accounts,
    api,
    booth,
    candidacies,
    check,
    credentials,
    eligibility,
    health,
    home,
    log,
    notifications,
    observers,
    primaries,
    results,
    round_admin,
    rounds,
    signin,
    trustees,
)

logger = logging.getLogger("scrutin")
STATIC_DIR = errors.TEMPLATES_DIR.parent / "static"

# Each feature contributes its routes here (one module per page family, datasette-style).
ROUTE_MODULES = [
    health, home, signin, accounts, notifications, primaries, candidacies, eligibility,
    rounds, booth, check, results, round_admin, observers, log, credentials, trustees, api,
]  # fmt: skip

# Background services started with the app and stopped with it, in this order
# (e.g. the log sequencer/checkpointer, the mail queue). Each takes the app.
BackgroundService = Callable[[Starlette], AbstractAsyncContextManager[None]]
BACKGROUND_SERVICES: list[BackgroundService] = []
BACKGROUND_SERVICES.append(mail_service)
BACKGROUND_SERVICES.append(log_background)


async def _init_connection(conn: asyncpg.Connection) -> None:
    for type_name in ("json", "jsonb"):
        await conn.set_type_codec(
            type_name, encoder=_json_dumps, decoder=_json_loads, schema="pg_catalog"
        )


def _json_dumps(value: object) -> str:
    import json

    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def _json_loads(value: str) -> object:
    import json

    return json.loads(value)


async def _keep_session(conn: asyncpg.Connection) -> None:
    """Release without asyncpg's session reset (pg_advisory_unlock_all, CLOSE ALL,
    UNLISTEN *, RESET ALL): one round trip of four saved on every short transaction (log
    appends under load: about +15 %, bench/log_append.py). Safe because Scrutin keeps no
    session state on pooled connections: no SET, no session advisory lock, no open cursor,
    no LISTEN (the job queue listens on its own connections, voting/jobs.py). asyncpg
    still rolls back a transaction left open before this runs."""


async def create_pool(database_url: str, *, min_size: int = 1, max_size: int = 10) -> asyncpg.Pool:
    return await asyncpg.create_pool(
        database_url,
        min_size=min_size,
        max_size=max_size,
        init=_init_connection,
        reset=_keep_session,
    )


def create_app(settings: Settings, *, database_url: str | None = None) -> Starlette:
    """Build the app. `database_url` is the resolved URL (embedded or external)."""
    url = database_url or settings.database_url
    if url is None:
        raise ValueError("create_app needs a database URL (start the embedded server first)")

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        app.state.pool = await create_pool(url)
        if settings.shared_rate_limits:
            app.state.shared_rate_limiter = DatabaseRateLimiter(app.state.pool)
        try:
            async with contextlib.AsyncExitStack() as stack:
                for service in BACKGROUND_SERVICES:
                    await stack.enter_async_context(service(app))
                yield
        finally:
            await app.state.pool.close()

    routes: list[BaseRoute] = []
    for module in ROUTE_MODULES:
        routes.extend(module.routes)
    routes.append(Mount("/static", app=StaticFiles(directory=STATIC_DIR), name="static"))

    app = Starlette(
        routes=routes,
        lifespan=lifespan,
        middleware=[
            Middleware(ProxyHeadersMiddleware, trusted=settings.forwarded_allow_ips),
            Middleware(SecurityHeadersMiddleware, hsts=settings.https),
            Middleware(errors.ServiceUnavailableMiddleware),
            *security_middleware(),
        ],
        exception_handlers=errors.handlers(),
    )
    app.state.settings = settings
    app.state.database_url = url
    configure_notifications(settings.base_url)
    app.state.secret_key = resolve_secret_key(settings)
    app.state.templates = make_templates()
    app.state.log = LogService(
        secret_key=app.state.secret_key,
        public_host=settings.public_host,
        checkpoint_interval=settings.checkpoint_interval,
    )
    app.state.units = UnitsOfWork(app.state)  # `async with request.app.state.units() as uow:`
    return app


def app_from_environment() -> Starlette:
    """The app of one worker of `scrutin serve --workers N` (uvicorn's factory): the parent
    prepared the database and passes everything through SCRUTIN_* variables."""
    from web.settings import load_settings

    return create_app(load_settings())
