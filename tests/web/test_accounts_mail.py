"""Mail from the running app: through a real SMTP server, or the demo outbox page."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from dataclasses import replace
from email import message_from_bytes
from email.policy import default as default_policy

import pytest
from aiosmtpd.controller import Controller
from starlette.testclient import TestClient

from tests.fixtures.accounts import LINK, post_form
from tests.fixtures.waiting import wait_until
from web.app import create_app
from web.settings import Settings, SmtpSettings


class Recorder:
    def __init__(self) -> None:
        self.messages: list[bytes] = []

    async def handle_DATA(self, server, session, envelope):  # type: ignore[no-untyped-def]
        self.messages.append(envelope.content)
        return "250 OK"


@pytest.fixture
def smtp() -> Iterator[tuple[Recorder, int]]:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    recorder = Recorder()
    controller = Controller(recorder, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield recorder, port
    finally:
        controller.stop()


def test_sign_in_mail_goes_through_smtp(settings: Settings, smtp: tuple[Recorder, int]) -> None:
    recorder, port = smtp
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    configured = replace(
        settings,
        smtp=SmtpSettings(host="127.0.0.1", port=port, starttls=False, sender="s@example.org"),
    )
    with TestClient(create_app(configured)) as client:
        response = post_form(client, "/signin", {"email": "smtp@example.org"})
        assert response.status_code == 303
        wait_until(lambda: recorder.messages, "the mail at the SMTP server")
    message = message_from_bytes(recorder.messages[0], policy=default_policy)
    assert message["To"] == "smtp@example.org"
    assert message["From"] == "s@example.org"
    assert LINK.search(message.get_content())
    # French first, English too: in the subject as in the text.
    assert "code de connexion" in message["Subject"] and "sign-in code" in message["Subject"]
    assert not (settings.data_dir / "outbox").exists()


def test_without_smtp_mail_lands_in_the_outbox(settings: Settings) -> None:
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    with TestClient(create_app(settings)) as client:
        post_form(client, "/signin", {"email": "box@example.org"})
        outbox = settings.data_dir / "outbox"
        wait_until(lambda: outbox.is_dir() and list(outbox.glob("*.eml")), "a mail in the outbox")
        assert client.get("/demo/outbox").status_code == 404  # not a demo


def test_demo_outbox_lists_clickable_sign_in_links(settings: Settings) -> None:
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    with TestClient(create_app(replace(settings, demo=True))) as client:
        post_form(client, "/signin", {"email": "demo@example.org"})
        outbox = settings.data_dir / "outbox"
        wait_until(lambda: outbox.is_dir() and list(outbox.glob("*.eml")), "a mail in the outbox")
        page = client.get("/demo/outbox")
        assert page.status_code == 200
        assert "demo@example.org" in page.text
        link = LINK.search(page.text)
        assert link and 'href="/signin/link?token=' in page.text
        visitor = TestClient(client.app)
        visitor.portal = client.portal
        assert visitor.get(f"/signin/link?token={link.group(1)}").status_code == 200
        assert post_form(visitor, "/signin/link", {"token": link.group(1)}).status_code == 303
        assert visitor.get("/api/session").json()["account"]["email"] == "demo@example.org"
