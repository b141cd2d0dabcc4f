import os
import stat
from pathlib import Path

import pytest

from web.settings import (
    DEFAULT_DATA_DIR,
    Settings,
    SettingsError,
    ensure_data_dir,
    load_settings,
    resolve_secret_key,
)


def test_defaults_need_no_environment() -> None:
    settings = load_settings({})
    assert settings.database_url is None
    assert settings.embedded_database
    assert settings.data_dir == Path(DEFAULT_DATA_DIR)
    assert (settings.host, settings.port) == ("127.0.0.1", 8000)
    assert settings.secret_key is None
    assert settings.smtp is None


def test_environment_overrides_every_default() -> None:
    settings = load_settings(
        {
            "SCRUTIN_DATABASE_URL": "postgresql://u:p@db.example:5432/scrutin",
            "SCRUTIN_DATA_DIR": "/srv/scrutin",
            "SCRUTIN_HOST": "0.0.0.0",
            "SCRUTIN_PORT": "9000",
            "SCRUTIN_SECRET_KEY": "x" * 40,
            "SCRUTIN_SMTP_HOST": "smtp.example",
            "SCRUTIN_SMTP_PORT": "2525",
        }
    )
    assert settings.database_url == "postgresql://u:p@db.example:5432/scrutin"
    assert not settings.embedded_database
    assert settings.data_dir == Path("/srv/scrutin")
    assert (settings.host, settings.port) == ("0.0.0.0", 9000)
    assert settings.secret_key == "x" * 40
    assert settings.smtp is not None and (settings.smtp.host, settings.smtp.port) == (
        "smtp.example",
        2525,
    )


@pytest.mark.parametrize(
    ("env", "names"),
    [
        ({"SCRUTIN_PORT": "eighty"}, "SCRUTIN_PORT"),
        ({"SCRUTIN_PORT": "70000"}, "SCRUTIN_PORT"),
        ({"SCRUTIN_DATABASE_URL": "mysql://x"}, "SCRUTIN_DATABASE_URL"),
        ({"SCRUTIN_SECRET_KEY": "short"}, "SCRUTIN_SECRET_KEY"),
        ({"SCRUTIN_DEMO": "maybe"}, "SCRUTIN_DEMO"),
        ({"SCRUTIN_CHECKPOINT_INTERVAL": "-1"}, "SCRUTIN_CHECKPOINT_INTERVAL"),
        ({"SCRUTIN_PUBLIC_HOST": "primaire example.org"}, "SCRUTIN_PUBLIC_HOST"),
        ({"SCRUTIN_PUBLIC_HOST": "a+b.example"}, "SCRUTIN_PUBLIC_HOST"),
        ({"SCRUTIN_PUBLIC_HOST": "example.org/"}, "SCRUTIN_PUBLIC_HOST"),
        ({"SCRUTIN_PUBLIC_HOST": "exämple.org"}, "SCRUTIN_PUBLIC_HOST"),
        ({"SCRUTIN_PUBLIC_URL": "https://x.example/a b"}, "SCRUTIN_PUBLIC_URL"),
    ],
)
def test_bad_values_are_refused_with_the_variable_named(env: dict[str, str], names: str) -> None:
    with pytest.raises(SettingsError, match=names):
        load_settings(env)


def test_secret_key_is_generated_once_private_and_reused(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path)
    first = resolve_secret_key(settings)
    second = resolve_secret_key(settings)
    assert first == second and len(first) >= 32
    mode = stat.S_IMODE(os.stat(tmp_path / "secret_key").st_mode)
    assert mode == 0o600


def test_configured_secret_key_wins(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, secret_key="k" * 40)
    assert resolve_secret_key(settings) == "k" * 40
    assert not (tmp_path / "secret_key").exists()


def test_unwritable_data_dir_is_reported(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    with pytest.raises(SettingsError, match="not writable"):
        ensure_data_dir(blocker / "data")


def test_public_url_drives_links_and_secure_cookies_are_opt_in() -> None:
    settings = load_settings(
        {"SCRUTIN_PUBLIC_URL": "https://primaire.example.org/", "SCRUTIN_SECURE_COOKIES": "yes"}
    )
    assert settings.base_url == "https://primaire.example.org"
    assert settings.secure_cookies
    assert load_settings({}).base_url == "http://127.0.0.1:8000"
    with pytest.raises(SettingsError, match="SCRUTIN_PUBLIC_URL"):
        load_settings({"SCRUTIN_PUBLIC_URL": "primaire.example.org"})


def test_log_origins_follow_the_public_address() -> None:
    """A log's origin is <public host>/primaries/<slug>; by default the public host is where
    people reach the service, so the origin is also the address of the log's tiles."""
    assert load_settings({}).public_host == "scrutin.localhost"
    behind_proxy = load_settings({"SCRUTIN_PUBLIC_URL": "https://primaire.example.org/"})
    assert behind_proxy.public_host == "primaire.example.org"
    in_a_folder = load_settings({"SCRUTIN_PUBLIC_URL": "https://example.org:8443/scrutin"})
    assert in_a_folder.public_host == "example.org:8443/scrutin"
    chosen = load_settings(
        {"SCRUTIN_PUBLIC_URL": "https://primaire.example.org", "SCRUTIN_PUBLIC_HOST": "logs.ex"}
    )
    assert chosen.public_host == "logs.ex"
