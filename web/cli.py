"""`scrutin`: run the service, migrate the schema, seed the demo, tally a paper vote."""

from __future__ import annotations

import argparse
import asyncio
import errno
import logging
import os
import signal
import socket
import sys
from collections.abc import Sequence
from typing import Any

from web.backup import BackupError
from web.database import DatabaseError, connect, database_url_for
from web.migrate import SchemaError, upgrade, verify_schema
from web.settings import (
    Settings,
    SettingsError,
    ensure_data_dir,
    load_settings,
    resolve_secret_key,
)

PROG = "scrutin"
DEMO_DATA_DIR = "scrutin-demo"


class StartupError(RuntimeError):
    """A start-up failure reported as one line, with a non-zero exit."""


def _add_server_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--data-dir", help="data folder (default: $SCRUTIN_DATA_DIR or ./scrutin-data)"
    )
    parser.add_argument("--host", help="address to listen on (default: $SCRUTIN_HOST or 127.0.0.1)")
    parser.add_argument(
        "--port", type=int, help="port to listen on (default: $SCRUTIN_PORT or 8000)"
    )


MAX_WORKERS = 64


def _workers(value: str) -> int:
    try:
        workers = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a whole number, got {value!r}") from None
    if not 1 <= workers <= MAX_WORKERS:
        raise argparse.ArgumentTypeError(f"must be between 1 and {MAX_WORKERS}, got {workers}")
    return workers


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=PROG, description="Scrutin: citizen primaries.")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    serve = commands.add_parser("serve", help="run the web service")
    _add_server_options(serve)
    serve.add_argument(
        "--no-migrate", action="store_true", help="refuse to start unless the schema is at head"
    )
    serve.add_argument(
        "--workers",
        type=_workers,
        default=1,
        help="number of server processes (default 1); with more, rate limits are shared "
        "through PostgreSQL",
    )

    demo = commands.add_parser("demo", help="run the service with a seeded demo primary")
    _add_server_options(demo)

    migrate = commands.add_parser("migrate", help="upgrade the database schema to head")
    migrate.add_argument("--data-dir", help="data folder holding the embedded database")

    recovery = commands.add_parser(
        "recovery-key", help="make the key pair that backups are encrypted to"
    )
    recovery.add_argument(
        "file", help="where to write the secret half (the public half goes to FILE.pub)"
    )

    backup = commands.add_parser("backup", help="write an encrypted backup of the service")
    backup.add_argument("file", help="backup file to write")
    backup.add_argument(
        "--recipient", required=True, help="recovery public key file (from scrutin recovery-key)"
    )
    backup.add_argument("--data-dir", help="data folder (default: $SCRUTIN_DATA_DIR)")

    restore = commands.add_parser("restore", help="restore a backup into an empty data folder")
    restore.add_argument("file", help="backup file made by scrutin backup")
    restore.add_argument("--key", required=True, help="recovery secret key file")
    restore.add_argument("--data-dir", help="empty or new data folder to restore into")

    tally = commands.add_parser("tally", help="rank a paper or offline majority-judgment vote")
    try:
        from voting import tally_command
    except ImportError:  # pragma: no cover - the engine ships with the package
        tally_command = None  # type: ignore[assignment]
    if tally_command is not None:
        tally_command.add_arguments(tally)
        tally.set_defaults(run=tally_command.run)

    from web import trustee as trustee_command

    trustee = commands.add_parser(
        "trustee", help="a trustee's key ceremony and decryption (docs/trustees.md)"
    )
    trustee_command.add_arguments(trustee)
    trustee.set_defaults(run=trustee_command.run)
    return parser


def _settings(args: argparse.Namespace, *, demo: bool = False) -> Settings:
    settings = load_settings()
    data_dir = getattr(args, "data_dir", None)
    if demo and data_dir is None and "SCRUTIN_DATA_DIR" not in os.environ:
        data_dir = DEMO_DATA_DIR
    return settings.with_overrides(
        data_dir=data_dir,
        host=getattr(args, "host", None),
        port=getattr(args, "port", None),
        demo=True if demo else None,
    )


def check_port_free(host: str, port: int) -> None:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise StartupError(f"port {port} on {host} is already in use") from None
            raise StartupError(f"cannot listen on {host}:{port}: {exc.strerror}") from None


def _check_reachable(url: str) -> None:
    async def probe() -> None:
        conn = await connect(url)
        await conn.close()

    asyncio.run(probe())


def prepare_database(url: str, *, migrate: bool) -> None:
    _check_reachable(url)
    if migrate:
        upgrade(url)
    verify_schema(url)


def serve(settings: Settings, *, migrate: bool = True, demo: bool = False, workers: int = 1) -> int:
    settings = settings.with_overrides(data_dir=ensure_data_dir(settings.data_dir))
    check_port_free(settings.host, settings.port)
    # The embedded server (if any) is restarted whenever it dies while the service runs.
    with database_url_for(settings.database_url, settings.data_dir, supervise=True) as url:
        prepare_database(url, migrate=migrate)
        witnesses = []
        try:
            if demo:
                from web import demo_witnesses
                from web.demo import seed_demo

                # Two independent witnesses next to the service (docs/witness.md).
                witnesses = demo_witnesses.prepare(settings.data_dir, settings.port)
                for witness in witnesses:
                    witness.start()
                    print(f"Demo witness {witness.vkey} on {witness.url}", flush=True)
                for line in asyncio.run(seed_demo(url, settings, witnesses)):
                    print(line, flush=True)
            if workers > 1:
                _run_workers(settings, url, workers)
            else:
                _run_uvicorn(settings, url)
        finally:
            for witness in witnesses:
                witness.stop()
    return 0


def _run_uvicorn(settings: Settings, url: str) -> None:
    import uvicorn

    from web.app import create_app

    app = create_app(settings, database_url=url)
    print(f"Scrutin is listening on {settings.base_url} (Ctrl+C to stop)", flush=True)
    server = uvicorn.Server(uvicorn.Config(app, **_uvicorn_options(settings)))
    # uvicorn re-raises SIGTERM after a graceful shutdown; with the default handler that
    # would kill the process before the embedded database is stopped.
    signal.signal(signal.SIGTERM, _exit_on_sigterm)
    server.run()
    if getattr(server, "started", True) is False:
        raise StartupError(f"the web server could not start on {settings.base_url}")


def _run_workers(settings: Settings, url: str, workers: int) -> None:
    """`workers` uvicorn processes on one socket, each building its app from the
    environment (web.app.app_from_environment); this process keeps the embedded database
    and stops it once they have all exited."""
    import uvicorn

    resolve_secret_key(settings)  # created once here, not raced for by the workers
    os.environ.update(
        SCRUTIN_DATABASE_URL=url,
        SCRUTIN_DATA_DIR=str(settings.data_dir),
        SCRUTIN_HOST=settings.host,
        SCRUTIN_PORT=str(settings.port),
        SCRUTIN_SHARED_RATE_LIMITS="true",
    )
    print(
        f"Scrutin is listening on {settings.base_url} with {workers} workers (Ctrl+C to stop)",
        flush=True,
    )
    uvicorn.run(
        "web.app:app_from_environment",
        factory=True,
        workers=workers,
        **_uvicorn_options(settings),
    )


def _uvicorn_options(settings: Settings) -> dict[str, Any]:
    """How uvicorn serves, with one process or several: quiet logs, no access log, and no
    proxy or server headers of its own."""
    return {
        "host": settings.host,
        "port": settings.port,
        "log_level": "warning",
        "access_log": False,
        "proxy_headers": False,
        "server_header": False,
    }


def _exit_on_sigterm(signum: int, frame: object) -> None:
    raise SystemExit(0)


def migrate_command(settings: Settings) -> int:
    settings = settings.with_overrides(data_dir=ensure_data_dir(settings.data_dir))
    with database_url_for(settings.database_url, settings.data_dir) as url:
        prepare_database(url, migrate=True)
    print("The database schema is up to date.")
    return 0


def backup_command(args: argparse.Namespace) -> int:
    from pathlib import Path

    from web import backup

    if args.command == "recovery-key":
        public = backup.make_recovery_key(Path(args.file))
        print(
            f"Recovery key: secret half in {args.file} (keep it off this machine), "
            f"public half in {public} (give it to scrutin backup --recipient)."
        )
        return 0
    settings = _settings(args)
    if args.command == "backup":
        recipient = backup.read_public_key(Path(args.recipient))
        settings = settings.with_overrides(data_dir=ensure_data_dir(settings.data_dir))
        with database_url_for(settings.database_url, settings.data_dir) as url:
            _check_reachable(url)
            manifest = backup.backup(settings, url, Path(args.file), recipient)
        print(
            f"Backup written to {args.file}: database ({manifest['database_bytes']} bytes) "
            f"and {len(manifest['files'])} file(s) of {settings.data_dir}."
        )
        return 0
    secret = backup.read_secret_key(Path(args.key))
    manifest = backup.restore(settings, Path(args.file), secret)
    print(f"Restored the backup of {manifest['made_at']} into {settings.data_dir}.")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        if args.command == "tally":
            if not hasattr(args, "run"):
                raise StartupError("the tally engine is not installed")
            return int(args.run(args))
        if args.command == "trustee":
            return int(args.run(args))
        if args.command == "migrate":
            return migrate_command(_settings(args))
        if args.command in ("recovery-key", "backup", "restore"):
            return backup_command(args)
        if args.command == "demo":
            return serve(_settings(args, demo=True), demo=True)
        return serve(_settings(args), migrate=not args.no_migrate, workers=args.workers)
    except (SettingsError, DatabaseError, SchemaError, StartupError, BackupError) as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
