"""Service settings, read once from the environment (and CLI overrides).

Every setting has a documented default so that `scrutin demo` works on a bare machine.
"""

from __future__ import annotations

import ipaddress
import os
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8000
DEFAULT_DATA_DIR = "scrutin-data"
SECRET_KEY_FILE = "secret_key"  # noqa: S105 - a file name, not a secret
MIN_SECRET_KEY_LENGTH = 32


class SettingsError(ValueError):
    """A setting has a value the service cannot use; the message names the variable."""


@dataclass(frozen=True)
class SmtpSettings:
    host: str
    port: int = 587
    username: str | None = None
    password: str | None = None
    starttls: bool = True
    sender: str = "scrutin@localhost"


@dataclass(frozen=True)
class Settings:
    data_dir: Path
    host: str = DEFAULT_HOST
    port: int = DEFAULT_PORT
    database_url: str | None = None
    secret_key: str | None = None
    public_host: str = "scrutin.localhost"
    demo: bool = False
    public_url: str | None = None
    secure_cookies: bool = False
    smtp: SmtpSettings | None = None
    checkpoint_interval: float = 2.0
    # Reverse proxies whose Forwarded / X-Forwarded-* headers are believed (web/proxies.py).
    forwarded_allow_ips: tuple[str, ...] = ()
    # Rate limits in PostgreSQL, shared by every process (forced on by `serve --workers N`).
    shared_rate_limits: bool = False
    extra: Mapping[str, str] = field(default_factory=dict)

    @property
    def embedded_database(self) -> bool:
        """True when the service runs its own PostgreSQL inside the data dir."""
        return self.database_url is None

    @property
    def public_origin(self) -> str | None:
        """`scheme://host[:port]` of SCRUTIN_PUBLIC_URL, as browsers send it in `Origin`."""
        if not self.public_url:
            return None
        scheme, rest = self.public_url.split("://", 1)
        netloc = rest.split("/", 1)[0].lower()
        default_port = ":443" if scheme == "https" else ":80"
        return f"{scheme}://{netloc.removesuffix(default_port)}"

    @property
    def https(self) -> bool:
        """True when people reach the service over https (then HSTS is sent)."""
        return bool(self.public_url and self.public_url.startswith("https://"))

    @property
    def base_url(self) -> str:
        """Where people reach the service (links in mail): SCRUTIN_PUBLIC_URL behind a proxy."""
        if self.public_url:
            return self.public_url.rstrip("/")
        return f"http://{self.host}:{self.port}"

    def with_overrides(self, **changes: object) -> Settings:
        clean = {k: v for k, v in changes.items() if v is not None}
        if "data_dir" in clean:
            clean["data_dir"] = Path(str(clean["data_dir"]))
        return replace(self, **clean)  # type: ignore[arg-type]


def _port(value: str, name: str) -> int:
    try:
        port = int(value)
    except ValueError:
        raise SettingsError(f"{name} must be a port number, got {value!r}") from None
    if not 0 < port < 65536:
        raise SettingsError(f"{name} must be between 1 and 65535, got {port}")
    return port


def _bool(value: str, name: str) -> bool:
    lowered = value.strip().lower()
    if lowered in {"1", "true", "yes", "on"}:
        return True
    if lowered in {"0", "false", "no", "off", ""}:
        return False
    raise SettingsError(f"{name} must be true or false, got {value!r}")


def _public_url(value: str | None) -> str | None:
    if value is not None and not value.startswith(("http://", "https://")):
        raise SettingsError(
            f"SCRUTIN_PUBLIC_URL must start with http:// or https://, got {value!r}"
        )
    return value


_ORIGIN_CHARS = re.compile(r"[!-*,-~]+")  # printable ASCII without space and "+" (signed-note)


def _public_host(value: str | None, public_url: str | None) -> str:
    """The host part of every log origin, `<public host>/primaries/<slug>`.

    Unset, it is SCRUTIN_PUBLIC_URL without its scheme, so that the origin is also the
    address of the log's C2SP tlog-tiles files (docs/audit-log.md §7); else a placeholder.
    """
    name = "SCRUTIN_PUBLIC_HOST"
    if value is None:
        if public_url is None:
            return "scrutin.localhost"
        value, name = public_url.split("://", 1)[1].rstrip("/"), "SCRUTIN_PUBLIC_URL"
    if not _ORIGIN_CHARS.fullmatch(value) or value.endswith("/"):
        raise SettingsError(
            f"{name} must give a host name for log origins: printable ASCII without spaces, "
            f'"+" or a trailing "/", got {value!r}'
        )
    return value


def _forwarded_allow_ips(value: str) -> tuple[str, ...]:
    """Comma-separated addresses or networks (CIDR) of trusted proxies, or "*" for any."""
    allowed = []
    for item in (part.strip() for part in value.split(",")):
        if not item:
            continue
        if item != "*":
            try:
                ipaddress.ip_network(item, strict=False)
            except ValueError:
                raise SettingsError(
                    "SCRUTIN_FORWARDED_ALLOW_IPS must list IP addresses or networks "
                    f"(such as 127.0.0.1 or 10.0.0.0/8) separated by commas, or *; got {item!r}"
                ) from None
        allowed.append(item)
    return tuple(allowed)


def _smtp(env: Mapping[str, str]) -> SmtpSettings | None:
    host = env.get("SCRUTIN_SMTP_HOST", "").strip()
    if not host:
        return None
    return SmtpSettings(
        host=host,
        port=_port(env.get("SCRUTIN_SMTP_PORT", "587"), "SCRUTIN_SMTP_PORT"),
        username=env.get("SCRUTIN_SMTP_USERNAME") or None,
        password=env.get("SCRUTIN_SMTP_PASSWORD") or None,
        starttls=_bool(env.get("SCRUTIN_SMTP_STARTTLS", "true"), "SCRUTIN_SMTP_STARTTLS"),
        sender=env.get("SCRUTIN_SMTP_FROM", "scrutin@localhost"),
    )


def load_settings(env: Mapping[str, str] | None = None) -> Settings:
    """Build settings from environment variables (see README, "Settings")."""
    env = os.environ if env is None else env
    database_url = env.get("SCRUTIN_DATABASE_URL", "").strip() or None
    if database_url is not None and not database_url.startswith(("postgresql://", "postgres://")):
        raise SettingsError(
            "SCRUTIN_DATABASE_URL must start with postgresql:// "
            f"(got {database_url.split(':', 1)[0]!r})"
        )
    secret_key = env.get("SCRUTIN_SECRET_KEY") or None
    if secret_key is not None and len(secret_key) < MIN_SECRET_KEY_LENGTH:
        raise SettingsError(
            f"SCRUTIN_SECRET_KEY must be at least {MIN_SECRET_KEY_LENGTH} characters long"
        )
    interval = env.get("SCRUTIN_CHECKPOINT_INTERVAL", "2")
    try:
        checkpoint_interval = float(interval)
    except ValueError:
        raise SettingsError(
            f"SCRUTIN_CHECKPOINT_INTERVAL must be a number of seconds, got {interval!r}"
        ) from None
    if checkpoint_interval <= 0:
        raise SettingsError("SCRUTIN_CHECKPOINT_INTERVAL must be positive")
    public_url = _public_url(env.get("SCRUTIN_PUBLIC_URL", "").strip() or None)
    return Settings(
        data_dir=Path(env.get("SCRUTIN_DATA_DIR", DEFAULT_DATA_DIR)),
        host=env.get("SCRUTIN_HOST", DEFAULT_HOST),
        port=_port(env.get("SCRUTIN_PORT", str(DEFAULT_PORT)), "SCRUTIN_PORT"),
        database_url=database_url,
        secret_key=secret_key,
        public_host=_public_host(env.get("SCRUTIN_PUBLIC_HOST", "").strip() or None, public_url),
        demo=_bool(env.get("SCRUTIN_DEMO", "false"), "SCRUTIN_DEMO"),
        public_url=public_url,
        secure_cookies=_bool(env.get("SCRUTIN_SECURE_COOKIES", "false"), "SCRUTIN_SECURE_COOKIES"),
        smtp=_smtp(env),
        checkpoint_interval=checkpoint_interval,
        forwarded_allow_ips=_forwarded_allow_ips(env.get("SCRUTIN_FORWARDED_ALLOW_IPS", "")),
        shared_rate_limits=_bool(
            env.get("SCRUTIN_SHARED_RATE_LIMITS", "false"), "SCRUTIN_SHARED_RATE_LIMITS"
        ),
    )


def ensure_data_dir(data_dir: Path) -> Path:
    """Create the data dir if needed and prove it is writable; raise SettingsError otherwise."""
    try:
        data_dir.mkdir(parents=True, exist_ok=True)
        probe = data_dir / ".write-probe"
        probe.write_bytes(b"ok")
        probe.unlink()
    except OSError as exc:
        reason = exc.strerror or str(exc)
        raise SettingsError(f"data dir {data_dir} is not writable: {reason}") from None
    return data_dir.resolve()


def resolve_secret_key(settings: Settings) -> str:
    """The configured secret, or the one generated on first run and kept in the data dir.

    The file is created with O_EXCL and mode 0600 so that two processes starting together
    cannot end up with different secrets, and nobody else on the machine can read it.
    """
    if settings.secret_key is not None:
        return settings.secret_key
    path = settings.data_dir / SECRET_KEY_FILE
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        value = path.read_text(encoding="ascii").strip()
        if len(value) < MIN_SECRET_KEY_LENGTH:
            raise SettingsError(
                f"{path} is damaged: restore it from a backup (the log keys are encrypted with it)"
            ) from None
        return value
    value = secrets.token_urlsafe(48)
    with os.fdopen(fd, "w", encoding="ascii") as handle:
        handle.write(value + "\n")
    return value
