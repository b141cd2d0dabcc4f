"""The demo's two witnesses (`scrutin demo`): `scrutin-witness` processes on loopback, with
their keys and state in the demo's data folder, and a 2-of-2 policy naming them.

Their ports are chosen once (the demo's port + 1 and + 2, or free ones) and kept with their
keys, since the policy in the demo's definition names their URLs.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from crypto.cosignature import CosignerKey

NAMES = ("presse.demo.scrutin.localhost/temoin", "universite.demo.scrutin.localhost/temoin")
# Generous: on a loaded machine a Python process can take long to import; we stop waiting
# early only if the witness process died.
START_TIMEOUT = 300.0


def _port_free(port: int) -> bool:
    with socket.socket() as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@dataclass
class DemoWitness:
    folder: Path
    key: CosignerKey
    port: int
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def vkey(self) -> str:
        return self.key.vkey

    @property
    def logs_file(self) -> Path:
        return self.folder / "logs.txt"

    def add_log(self, vkey: str) -> None:
        """Witness this log from now on (the witness reads its list again when it changes)."""
        lines = self.logs_file.read_text("utf-8").splitlines() if self.logs_file.exists() else []
        if f"log {vkey}" not in lines:
            tmp = self.logs_file.with_suffix(".tmp")
            tmp.write_text("".join(f"{line}\n" for line in [*lines, f"log {vkey}"]), "utf-8")
            os.replace(tmp, self.logs_file)

    def start(self) -> None:
        command = [
            sys.executable, "-m", "web.witness", "serve",
            "--key", str(self.folder / "witness.key"), "--logs", str(self.logs_file),
            "--state", str(self.folder / "state"), "--port", str(self.port),
        ]  # fmt: skip
        self.process = subprocess.Popen(command, stdout=subprocess.DEVNULL)  # noqa: S603
        deadline = time.monotonic() + START_TIMEOUT
        while True:  # until it answers, or gave up
            try:
                with urllib.request.urlopen(self.url + "/", timeout=2):  # noqa: S310
                    return
            except OSError:
                pass
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"the demo witness on port {self.port} did not start")
            time.sleep(0.05)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGTERM)
            self.process.wait(timeout=30)
        self.process = None


def prepare(data_dir: str | os.PathLike[str], demo_port: int) -> list[DemoWitness]:
    """The demo witnesses' keys, lists and ports, created on the first run and kept."""
    witnesses = []
    for number, name in enumerate(NAMES, 1):
        folder = Path(data_dir) / "witnesses" / f"w{number}"
        folder.mkdir(parents=True, exist_ok=True)
        key_file, port_file = folder / "witness.key", folder / "port"
        if not key_file.exists():
            key_file.write_text(CosignerKey.generate(name).skey() + "\n", "utf-8")
            key_file.chmod(0o600)
        if not port_file.exists():
            port = demo_port + number
            port_file.write_text(str(port if _port_free(port) else _free_port()), "utf-8")
        if not (folder / "logs.txt").exists():
            (folder / "logs.txt").write_text("# logs witnessed by this demo witness\n", "utf-8")
        key = CosignerKey.parse(key_file.read_text("utf-8"))
        witnesses.append(DemoWitness(folder, key, int(port_file.read_text("utf-8"))))
    return witnesses


def policy(witnesses: list[DemoWitness]) -> str:
    """The demo's C2SP tlog-policy: both witnesses must cosign (2 of 2)."""
    lines = [f"witness w{i} {w.vkey} {w.url}" for i, w in enumerate(witnesses, 1)]
    names = " ".join(f"w{i}" for i in range(1, len(witnesses) + 1))
    return "\n".join([*lines, f"group demo-witnesses all {names}", "quorum demo-witnesses"]) + "\n"
