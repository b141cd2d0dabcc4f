"""`scrutin-witness`: a small C2SP tlog-witness (v1.0.0) service with Ed25519 cosignatures
(C2SP tlog-cosignature v1.0.1), meant to run on someone else's machine: a candidate's team,
a newspaper, a university. See docs/witness.md.

    scrutin-witness init  --name news.example/witness --key witness.key
    scrutin-witness serve --key witness.key --logs logs.txt --state state/ [--port 7380]

- `POST /add-checkpoint`: the C2SP request; answers 200 with the cosignature line, 400 for a
  malformed request (or old size above the checkpoint's), 403 when no trusted log key signed
  the checkpoint (or a trusted key's line fails), 404 for an unknown origin, 409 with
  `text/x.tlog.size` and the size it knows, 422 for a bad consistency proof, a fork at the same
  size, or a size-0 checkpoint whose root is not the empty tree's.
- `GET /<hex SHA-256 of the origin>/checkpoint`: the latest checkpoint it cosigned, with the
  log's signature and its own cosignature (the tlog-witness monitoring API).

Storage: one small JSON file per log in the state folder, replaced atomically (write, fsync,
`os.replace`) while holding an exclusive `flock` on the folder's lock file, so that check and
update are one step even with several processes on the same folder. A witness keeps a size
and a root hash per log: a database would be more to install and run than the job needs, and
this code does not touch the service's schema at all.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import fcntl
import hashlib
import json
import logging
import os
import sys
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from crypto import merkle
from crypto.cosignature import (
    EMPTY_ROOT,
    AddCheckpoint,
    AddCheckpointError,
    CosignerKey,
    parse_add_checkpoint,
)
from crypto.encoding import b64decode, b64encode
from crypto.note import (
    NoteError,
    Verifier,
    open_note,
    parse_checkpoint,
    parse_verifier_key,
)

PROG = "scrutin-witness"
MAX_REQUEST = 64 * 1024
SIZE_CONTENT_TYPE = "text/x.tlog.size"
logger = logging.getLogger("scrutin.witness")


class WitnessConfigError(ValueError):
    """The key file or the list of logs cannot be used; the message says why."""


class Refusal(Exception):
    def __init__(self, status: int, message: str, known_size: int | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.known_size = known_size


def load_logs(text: str) -> dict[str, list[Verifier]]:
    """The witnessed logs: `log <vkey>` lines (tlog-policy style; `#` comments), the key name
    being the log's origin. An origin may have several keys (a key rotation)."""
    logs: dict[str, list[Verifier]] = {}
    for number, line in enumerate(text.splitlines(), 1):
        words = line.split()
        if not words or words[0].startswith("#"):
            continue
        if words[0] != "log" or len(words) not in (2, 3):
            raise WitnessConfigError(f"line {number}: expected 'log <vkey> [<url>]'")
        try:
            verifier = parse_verifier_key(words[1])
        except NoteError as exc:
            raise WitnessConfigError(f"line {number}: {exc}") from None
        logs.setdefault(verifier.name, []).append(verifier)
    return logs


def origin_hash(origin: str) -> str:
    return hashlib.sha256(origin.encode()).hexdigest()


@dataclass(frozen=True)
class Recorded:
    size: int
    root: bytes
    note: str  # the checkpoint as cosigned: log signature(s) and this witness's cosignature


class FileStore:
    """The latest cosigned checkpoint per origin, one JSON file each."""

    def __init__(self, folder: str | os.PathLike[str]) -> None:
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self._lock_path = self.folder / ".lock"
        self._thread_lock = threading.Lock()

    def _path(self, origin: str) -> Path:
        return self.folder / f"{origin_hash(origin)}.json"

    @contextlib.contextmanager
    def locked(self) -> Iterator[None]:
        """Exclusive across threads and processes: check-and-update happens inside."""
        with self._thread_lock, open(self._lock_path, "a") as lock_file:
            fcntl.flock(lock_file, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock_file, fcntl.LOCK_UN)

    def get(self, origin: str) -> Recorded | None:
        try:
            data = json.loads(self._path(origin).read_text("utf-8"))
        except FileNotFoundError:
            return None
        if data.get("origin") != origin:
            raise RuntimeError(f"state file for {origin!r} names another origin")
        return Recorded(int(data["size"]), b64decode(data["root"], length=32), data["checkpoint"])

    def put(self, origin: str, record: Recorded) -> None:
        """Replace the record atomically (call inside `locked`)."""
        path = self._path(origin)
        tmp = path.with_suffix(".tmp")
        data = {
            "origin": origin,
            "size": record.size,
            "root": b64encode(record.root),
            "checkpoint": record.note,
        }
        with open(tmp, "w", encoding="utf-8") as out:
            json.dump(data, out)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, path)
        directory = os.open(self.folder, os.O_RDONLY)
        try:
            os.fsync(directory)
        finally:
            os.close(directory)


class Witness:
    """The add-checkpoint rules of C2SP tlog-witness, independent of HTTP."""

    def __init__(
        self,
        key: CosignerKey,
        logs: dict[str, list[Verifier]],
        store: FileStore,
        logs_file: Path | None = None,
    ) -> None:
        self.key = key
        self.logs = logs
        self.store = store
        # The list of logs is read again when its file changes: adding a log needs no restart.
        self.logs_file = logs_file
        self._logs_stamp = self._stamp()

    def _stamp(self) -> tuple[int, int] | None:
        if self.logs_file is None:
            return None
        info = self.logs_file.stat()
        return info.st_mtime_ns, info.st_size

    def reload_logs(self) -> None:
        try:
            stamp = self._stamp()
            if stamp != self._logs_stamp:
                self.logs = load_logs(self.logs_file.read_text("utf-8"))  # type: ignore[union-attr]
                self._logs_stamp = stamp
        except (OSError, UnicodeDecodeError, WitnessConfigError) as exc:
            logger.warning("kept the previous list of logs: %s", exc)

    def add_checkpoint(self, body: bytes) -> str:
        """The cosignature line(s) for a request body, or `Refusal` with the status."""
        try:
            request = parse_add_checkpoint(body)
            note_text = request.note.decode("utf-8")
        except AddCheckpointError as exc:
            raise Refusal(400, str(exc)) from None
        except UnicodeDecodeError:
            raise Refusal(400, "the checkpoint is not UTF-8") from None
        origin = note_text.split("\n", 1)[0]
        self.reload_logs()
        verifiers = self.logs.get(origin)
        if verifiers is None:
            raise Refusal(404, f"unknown log {origin[:200]!r}")
        try:
            opened = open_note(note_text, verifiers)
        except NoteError as exc:
            raise Refusal(403, f"invalid signature: {exc}") from None
        try:
            checkpoint = parse_checkpoint(opened.text)
        except NoteError as exc:
            raise Refusal(400, f"not a checkpoint: {exc}") from None
        old = request.old_size
        if old > checkpoint.size:
            raise Refusal(400, f"old size {old} is above the checkpoint size {checkpoint.size}")
        with self.store.locked():
            known = self.store.get(origin)
            known_size = 0 if known is None else known.size
            if old != known_size:
                raise Refusal(409, f"known size is {known_size}", known_size)
            self._check_consistency(origin, checkpoint.size, checkpoint.root_hash, known, request)
            line = self.key.cosign(opened.text).line()
            self.store.put(
                origin, Recorded(checkpoint.size, checkpoint.root_hash, note_text + line)
            )
        return line

    def _check_consistency(
        self, origin: str, size: int, root: bytes, known: Recorded | None, request: AddCheckpoint
    ) -> None:
        def refuse(message: str) -> Refusal:
            # Evidence of a misbehaving log (a fork) or of a broken client: keep a trace.
            logger.warning("refused checkpoint of %s at size %d: %s", origin, size, message)
            return Refusal(422, message)

        if size == 0 and root != EMPTY_ROOT:
            raise refuse("a checkpoint of size 0 must have the empty tree's root")
        if request.old_size == 0:
            if request.proof:
                raise refuse("the consistency proof from size 0 must be empty")
            return
        assert known is not None
        try:
            merkle.verify_consistency(known.size, size, known.root, root, list(request.proof))
        except merkle.ProofError as exc:
            raise refuse(f"bad consistency proof: {exc}") from None


def create_app(witness: Witness) -> Starlette:
    async def add_checkpoint(request: Request) -> Response:
        body = b""
        async for chunk in request.stream():
            body += chunk
            if len(body) > MAX_REQUEST:
                return PlainTextResponse("request too large\n", status_code=400)
        try:
            line = await asyncio.to_thread(witness.add_checkpoint, body)
        except Refusal as refusal:
            if refusal.known_size is not None:
                # Exactly this media type, without the charset Starlette adds to text/*.
                headers = {"Content-Type": SIZE_CONTENT_TYPE}
                return Response(f"{refusal.known_size}\n", 409, headers=headers)
            return PlainTextResponse(f"{refusal}\n", status_code=refusal.status)
        return PlainTextResponse(line)

    async def latest(request: Request) -> Response:
        wanted = request.path_params["hash"]
        for origin in witness.logs:
            if origin_hash(origin) == wanted:
                record = witness.store.get(origin)
                if record is not None:
                    return PlainTextResponse(record.note, headers={"Cache-Control": "no-cache"})
        return PlainTextResponse("no checkpoint cosigned for this log\n", status_code=404)

    async def home(request: Request) -> Response:
        lines = [f"C2SP tlog-witness {witness.key.vkey}", "", "Witnessed logs:"]
        lines += [f"log {v.vkey}" for vs in witness.logs.values() for v in vs]
        return PlainTextResponse("\n".join(lines) + "\n")

    return Starlette(
        routes=[
            Route("/", home),
            Route("/add-checkpoint", add_checkpoint, methods=["POST"]),
            Route("/{hash:str}/checkpoint", latest),
        ]
    )


# -- command line ----------------------------------------------------------------------------


def load_key(path: str) -> CosignerKey:
    try:
        return CosignerKey.parse(Path(path).read_text("utf-8"))
    except OSError as exc:
        raise WitnessConfigError(f"cannot read the key file {path}: {exc.strerror}") from None
    except NoteError as exc:
        raise WitnessConfigError(f"{path}: {exc}") from None


def build_witness(key_file: str, logs_file: str, state: str) -> Witness:
    key = load_key(key_file)
    try:
        logs = load_logs(Path(logs_file).read_text("utf-8"))
    except OSError as exc:
        raise WitnessConfigError(f"cannot read {logs_file}: {exc.strerror}") from None
    return Witness(key, logs, FileStore(state), Path(logs_file))


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=PROG, description="A C2SP tlog-witness for Scrutin logs.")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    init = commands.add_parser("init", help="create a witness key file and print its public key")
    init.add_argument("--name", required=True, help="witness name, e.g. news.example/witness")
    init.add_argument("--key", required=True, help="key file to create (mode 0600)")
    vkey = commands.add_parser("vkey", help="print the public (verifier) key of a key file")
    vkey.add_argument("--key", required=True)
    serve = commands.add_parser("serve", help="run the witness")
    serve.add_argument("--key", required=True, help="the witness key file")
    serve.add_argument("--logs", required=True, help="file of 'log <vkey>' lines")
    serve.add_argument("--state", required=True, help="folder for the latest checkpoints")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=7380)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        if args.command == "init":
            key = CosignerKey.generate(args.name)
            fd = os.open(args.key, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as out:
                out.write(key.skey() + "\n")
            print(key.vkey)
        elif args.command == "vkey":
            print(load_key(args.key).vkey)
        else:
            witness = build_witness(args.key, args.logs, args.state)
            import uvicorn

            logging.basicConfig(level=logging.INFO, format="%(message)s")
            print(f"{PROG}: {witness.key.vkey} on http://{args.host}:{args.port}", flush=True)
            uvicorn.run(create_app(witness), host=args.host, port=args.port, log_level="warning")
    except FileExistsError:
        print(f"{PROG}: {args.key} already exists; not overwriting a key", file=sys.stderr)
        return 2
    except (WitnessConfigError, NoteError, OSError) as exc:
        print(f"{PROG}: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
