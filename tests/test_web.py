"""The web app on a real loopback port, driven over HTTP with httpx."""

from __future__ import annotations

import datetime as dt
import re
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from sqlalchemy import Engine, select

from emails.errors import TransportError
from subscribers.store import schema
from subscribers.store.engine import open_store
from subscribers.store.roster import add_subscriber
from subscribers.store.states import SubscriberStatus
from subscribers.tokens import make_confirm_token, make_token
from subscribers.web.app import AppConfig, create_app
from tests.conftest import TEST_KEY

PUBLIC = "https://post.example.com"
SENDER = "The AI Morning Post <briefing@example.com>"
STAMP = dt.datetime(2026, 11, 27, 6, 30, tzinfo=dt.UTC)
CONFIRM_LINK = re.compile(r"https://post\.example\.com/confirm/([A-Za-z0-9_.-]+)")


class RecordingTransport:
    """Keeps what it is handed; fails while ``failing`` is set."""

    name = "recording"

    def __init__(self) -> None:
        self.sent: list[EmailMessage] = []
        self.failing = False

    def send(self, message: EmailMessage) -> str:
        if self.failing:
            raise TransportError("recording: refused on purpose")
        self.sent.append(message)
        return f"id-{len(self.sent)}"


@contextmanager
def serving(app: Any) -> Iterator[str]:
    """Run ``app`` under uvicorn on 127.0.0.1 (a free port) in a thread; yield its base URL."""
    # As `morningpost serve` runs it: uvicorn believes no X-Forwarded-For; the app decides.
    config = uvicorn.Config(
        app, host="127.0.0.1", port=0, log_level="warning", lifespan="off", proxy_headers=False
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not (server.started and server.servers):
        assert thread.is_alive(), "uvicorn stopped while starting"
        assert time.monotonic() < deadline, "uvicorn did not start within 10 s"
        time.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    _wait_for_port(port, deadline)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def _wait_for_port(port: int, deadline: float) -> None:
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            assert time.monotonic() < deadline, f"nothing listens on port {port}"
            time.sleep(0.01)


@pytest.fixture
def engine(store_url: str) -> Engine:
    return open_store(store_url)  # SQLite, and PostgreSQL when configured (conftest)


@pytest.fixture
def transport() -> RecordingTransport:
    return RecordingTransport()


@pytest.fixture
def archive(tmp_path: Path) -> Path:
    return tmp_path / "archive"


def make_app(engine: Engine, transport: RecordingTransport, archive: Path, **extra: Any) -> Any:
    values: dict[str, Any] = {"public_url": PUBLIC, **extra}
    return create_app(
        AppConfig(
            engine=engine,
            secret_key=TEST_KEY,
            transport=transport,
            sender=SENDER,
            archive_dir=archive,
            **values,
        )
    )


class WebClient(httpx.Client):
    """After each request, waits until the app's sign-up worker is idle: what the worker does
    for a request (store, confirmation mail) is done by the time the test looks."""

    def __init__(self, app: Any, base: str) -> None:
        super().__init__(base_url=base, follow_redirects=False, timeout=10)
        self.signups = app.state.signups

    def request(self, *args: Any, **kwargs: Any) -> httpx.Response:
        response = super().request(*args, **kwargs)
        self.signups.join()
        return response


@contextmanager
def web_client(app: Any) -> Iterator[WebClient]:
    with serving(app) as base, WebClient(app, base) as http:
        yield http


@pytest.fixture
def client(engine: Engine, transport: RecordingTransport, archive: Path) -> Iterator[WebClient]:
    with web_client(make_app(engine, transport, archive)) as http:
        yield http


def status_of(engine: Engine, email: str) -> str | None:
    with engine.connect() as conn:
        return conn.scalar(
            select(schema.subscribers.c.status).where(
                schema.subscribers.c.email_key == email.casefold()
            )
        )


def confirm_path(message: EmailMessage) -> str:
    body = message.get_body(("plain",))
    assert body is not None
    match = CONFIRM_LINK.search(body.get_content())
    assert match, "no confirm link in the confirmation email"
    return f"/confirm/{match.group(1)}"


def active(engine: Engine, email: str = "ada@example.com") -> int:
    with engine.begin() as conn:
        return add_subscriber(conn, email, name="Ada")


def unsubscribe_path(subscriber_id: int, key: str = TEST_KEY) -> str:
    return f"/unsubscribe/{make_token(key, subscriber_id)}"


# -- subscribe and confirm ------------------------------------------------------------------


def test_the_subscribe_page_is_small_self_contained_and_labelled(client: httpx.Client) -> None:
    response = client.get("/")
    assert response.status_code == 200
    page = response.text
    assert '<form method="post">' in page
    assert '<label for="email">' in page
    assert 'id="email"' in page
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", page), "no external assets"
    assert len(page.encode()) < 8_000
    assert response.headers["referrer-policy"] == "no-referrer"
    assert "default-src 'none'" in response.headers["content-security-policy"]


def test_subscribe_then_confirm_with_the_button(
    client: httpx.Client, engine: Engine, transport: RecordingTransport
) -> None:
    response = client.post("/subscribe", data={"email": "Ada@Example.COM", "name": "Ada"})
    assert response.status_code == 200
    assert "Check your inbox" in response.text
    assert status_of(engine, "Ada@example.com") == SubscriberStatus.PENDING
    assert len(transport.sent) == 1
    message = transport.sent[0]
    assert message["To"] == "Ada@example.com"
    assert "Confirm your subscription" in message["Subject"]
    path = confirm_path(message)

    shown = client.get(path)  # what a link scanner does: nothing changes
    assert shown.status_code == 200
    assert '<form method="post">' in shown.text
    assert status_of(engine, "ada@example.com") == SubscriberStatus.PENDING

    confirmed = client.post(path, data={"confirm": "yes"})
    assert confirmed.status_code == 200
    assert "You are subscribed" in confirmed.text
    assert status_of(engine, "ada@example.com") == SubscriberStatus.ACTIVE


def test_a_replayed_confirm_link_is_harmless(
    client: httpx.Client, engine: Engine, transport: RecordingTransport
) -> None:
    client.post("/subscribe", data={"email": "ada@example.com"})
    path = confirm_path(transport.sent[0])
    assert client.post(path, data={"confirm": "yes"}).status_code == 200
    again = client.post(path, data={"confirm": "yes"})
    assert again.status_code == 200
    assert "You are subscribed" in again.text
    assert status_of(engine, "ada@example.com") == SubscriberStatus.ACTIVE
    assert len(transport.sent) == 1

    # After unsubscribing, the old confirmation link brings nobody back.
    with engine.connect() as conn:
        sid = conn.scalar(select(schema.subscribers.c.id))
    assert sid is not None
    client.post(unsubscribe_path(sid), data={"unsubscribe": "yes"})
    stale = client.post(path, data={"confirm": "yes"})
    assert stale.status_code == 410
    assert status_of(engine, "ada@example.com") == SubscriberStatus.UNSUBSCRIBED
    assert client.get(path).status_code == 410


def test_the_form_sends_one_confirmation_per_window_and_never_reveals_state(
    client: httpx.Client, engine: Engine, transport: RecordingTransport
) -> None:
    active(engine, "member@example.com")
    answers = {
        client.post("/subscribe", data={"email": email}).text
        for email in ("new@example.com", "NEW@example.com", "member@example.com")
    }
    assert len(answers) == 1, "the answer must not tell who is subscribed"
    assert [m["To"] for m in transport.sent] == ["new@example.com"]
    assert status_of(engine, "member@example.com") == SubscriberStatus.ACTIVE


def test_a_confirmation_is_sent_again_after_the_window(
    engine: Engine, transport: RecordingTransport, archive: Path
) -> None:
    app = make_app(engine, transport, archive, resend_after=dt.timedelta(0))
    with web_client(app) as http:
        for _ in range(2):
            assert http.post("/subscribe", data={"email": "ada@example.com"}).status_code == 200
    assert len(transport.sent) == 2


def test_resubscribing_after_unsubscribing_needs_the_double_opt_in(
    client: httpx.Client, engine: Engine, transport: RecordingTransport
) -> None:
    sid = active(engine)
    client.post(unsubscribe_path(sid), data={"List-Unsubscribe": "One-Click"})
    assert status_of(engine, "ada@example.com") == SubscriberStatus.UNSUBSCRIBED

    client.post("/subscribe", data={"email": "ada@example.com"})
    assert status_of(engine, "ada@example.com") == SubscriberStatus.PENDING  # not active yet
    assert len(transport.sent) == 1
    client.post(confirm_path(transport.sent[0]), data={"confirm": "yes"})
    assert status_of(engine, "ada@example.com") == SubscriberStatus.ACTIVE


def test_a_complained_address_gets_no_confirmation(
    client: httpx.Client, engine: Engine, transport: RecordingTransport
) -> None:
    with engine.begin() as conn:
        add_subscriber(conn, "angry@example.com", status=SubscriberStatus.COMPLAINED)
    assert client.post("/subscribe", data={"email": "angry@example.com"}).status_code == 200
    assert transport.sent == []
    assert status_of(engine, "angry@example.com") == SubscriberStatus.COMPLAINED


def test_an_invalid_address_is_shown_again_with_the_reason(
    client: httpx.Client, engine: Engine, transport: RecordingTransport
) -> None:
    response = client.post("/subscribe", data={"email": "<script>@nowhere", "name": "x"})
    assert response.status_code == 400
    assert 'role="alert"' in response.text
    assert "<script>" not in response.text
    assert "&lt;script&gt;@nowhere" in response.text
    assert transport.sent == []
    with engine.connect() as conn:
        assert conn.scalar(select(schema.subscribers.c.id)) is None


def test_the_honeypot_is_answered_politely_and_ignored(
    client: httpx.Client, engine: Engine, transport: RecordingTransport
) -> None:
    data = {"email": "bot@example.com", "website": "http://spam.example"}
    response = client.post("/subscribe", data=data)
    assert (response.status_code, "Check your inbox" in response.text) == (200, True)
    assert transport.sent == []
    assert status_of(engine, "bot@example.com") is None


def test_a_failed_confirmation_send_may_be_retried_at_once(
    client: httpx.Client, engine: Engine, transport: RecordingTransport
) -> None:
    transport.failing = True
    # Mail goes out off the request path: the form cannot know, and answers as always.
    assert client.post("/subscribe", data={"email": "ada@example.com"}).status_code == 200
    assert transport.sent == []
    transport.failing = False
    assert client.post("/subscribe", data={"email": "ada@example.com"}).status_code == 200
    assert len(transport.sent) == 1


def test_an_oversized_form_is_refused(client: httpx.Client, transport: RecordingTransport) -> None:
    response = client.post("/subscribe", data={"email": "a@example.com", "name": "x" * 20_000})
    assert response.status_code == 413
    assert transport.sent == []


# -- unsubscribe ----------------------------------------------------------------------------


def test_get_shows_a_button_and_changes_nothing(client: httpx.Client, engine: Engine) -> None:
    sid = active(engine)
    for _ in range(3):  # a scanner may follow a link several times
        page = client.get(unsubscribe_path(sid))
        assert page.status_code == 200
        assert '<form method="post">' in page.text
        assert 'name="unsubscribe"' in page.text
    assert status_of(engine, "ada@example.com") == SubscriberStatus.ACTIVE


def test_the_button_unsubscribes(client: httpx.Client, engine: Engine) -> None:
    sid = active(engine)
    response = client.post(unsubscribe_path(sid), data={"unsubscribe": "yes"})
    assert response.status_code == 200
    assert "You are unsubscribed" in response.text
    assert status_of(engine, "ada@example.com") == SubscriberStatus.UNSUBSCRIBED
    assert "You are unsubscribed" in client.get(unsubscribe_path(sid)).text


@pytest.mark.parametrize("encoding", ["urlencoded", "multipart"])
def test_one_click_post_unsubscribes_at_once_without_redirect_or_cookie(
    client: httpx.Client, engine: Engine, encoding: str
) -> None:
    sid = active(engine)
    if encoding == "urlencoded":
        response = client.post(unsubscribe_path(sid), data={"List-Unsubscribe": "One-Click"})
    else:
        files = {"List-Unsubscribe": (None, b"One-Click")}
        response = client.post(unsubscribe_path(sid), files=files)
        assert response.request.headers["content-type"].startswith("multipart/form-data")
    assert response.status_code == 200
    assert "location" not in response.headers
    assert "set-cookie" not in response.headers
    assert not response.request.headers.get("cookie")
    assert status_of(engine, "ada@example.com") == SubscriberStatus.UNSUBSCRIBED
    again = client.post(unsubscribe_path(sid), data={"List-Unsubscribe": "One-Click"})
    assert again.status_code == 200  # repeated by the mail provider: still fine


def test_a_post_asking_nothing_changes_nothing(client: httpx.Client, engine: Engine) -> None:
    sid = active(engine)
    assert client.post(unsubscribe_path(sid), data={"other": "x"}).status_code == 400
    assert status_of(engine, "ada@example.com") == SubscriberStatus.ACTIVE


def test_a_bounced_subscriber_stays_bounced_when_unsubscribing(
    client: httpx.Client, engine: Engine
) -> None:
    with engine.begin() as conn:
        sid = add_subscriber(conn, "gone@example.com", status=SubscriberStatus.BOUNCED)
    response = client.post(unsubscribe_path(sid), data={"List-Unsubscribe": "One-Click"})
    assert response.status_code == 200
    assert status_of(engine, "gone@example.com") == SubscriberStatus.BOUNCED


def _tampered(path: str) -> list[str]:
    token = path.rsplit("/", 1)[1]
    flipped = token[:-1] + ("A" if token[-1] != "A" else "B")
    other_id = str(int(token.split(".")[0], 36) + 1) + "." + token.split(".")[1]
    return [
        path.replace(token, flipped),
        path.replace(token, other_id),
        path.replace(token, token[:-3]),
        path.replace(token, "not-a-token"),
    ]


def test_tampered_and_foreign_tokens_change_nothing(client: httpx.Client, engine: Engine) -> None:
    sid = active(engine)
    active(engine, "grace@example.com")
    bad = [
        *_tampered(unsubscribe_path(sid)),
        unsubscribe_path(sid, key="someone-elses-key"),
        f"/unsubscribe/{make_confirm_token(TEST_KEY, sid, STAMP)}",  # right id, wrong purpose
    ]
    for path in bad:
        shown = client.get(path)
        assert shown.status_code == 400, path
        assert "This link does not work" in shown.text
        posted = client.post(path, data={"List-Unsubscribe": "One-Click"})
        assert posted.status_code == 400, path
    assert status_of(engine, "ada@example.com") == SubscriberStatus.ACTIVE
    assert status_of(engine, "grace@example.com") == SubscriberStatus.ACTIVE


def test_a_valid_token_for_nobody_is_404(client: httpx.Client) -> None:
    assert client.get(unsubscribe_path(999)).status_code == 404
    response = client.post(unsubscribe_path(999), data={"List-Unsubscribe": "One-Click"})
    assert response.status_code == 404
    confirm = f"/confirm/{make_confirm_token(TEST_KEY, 999, STAMP)}"
    assert client.post(confirm, data={"confirm": "yes"}).status_code == 404


def test_a_tampered_confirm_link_activates_nobody(
    client: httpx.Client, engine: Engine, transport: RecordingTransport
) -> None:
    client.post("/subscribe", data={"email": "ada@example.com"})
    for path in _tampered(confirm_path(transport.sent[0])):
        assert client.post(path, data={"confirm": "yes"}).status_code == 400
    assert status_of(engine, "ada@example.com") == SubscriberStatus.PENDING


# -- the web archive ------------------------------------------------------------------------


def test_archived_issues_are_served_and_nothing_else(client: httpx.Client, archive: Path) -> None:
    page = archive / "2026-11-27" / "index.html"
    page.parent.mkdir(parents=True)
    page.write_text("<html><body>Issue #1</body></html>", encoding="utf-8")
    (archive / "secret.txt").write_text("no", encoding="utf-8")
    response = client.get("/issues/2026-11-27/")
    assert response.status_code == 200
    assert "Issue #1" in response.text
    assert response.headers["content-type"].startswith("text/html")
    for path in (
        "/issues/2026-11-28/",
        "/issues/20261127/",
        "/issues/..%2Fsecret.txt/",
        "/issues/2026-13-01/",
        "/issues/%2e%2e/",
    ):
        assert client.get(path).status_code == 404, path


def test_unknown_paths_and_methods_get_friendly_pages(client: httpx.Client) -> None:
    missing = client.get("/no/such/page")
    assert missing.status_code == 404
    assert "<h1>Not found</h1>" in missing.text
    assert client.delete("/subscribe").status_code == 405


def test_the_sns_webhook_is_off_without_a_topic(client: httpx.Client) -> None:
    assert client.post("/sns", content=b"{}").status_code == 404


def test_serve_wires_the_app_from_the_settings(settings: Any) -> None:
    from pipeline.commands.web import build_app
    from pipeline.context import Context

    with serving(build_app(Context(settings))) as base, httpx.Client(base_url=base) as http:
        assert http.get("/healthz").text == "ok\n"
        assert http.post("/subscribe", data={"email": "ada@example.com"}).status_code == 200
    written = list((settings.data_dir / "outbox" / "confirmations").glob("*.eml"))
    assert len(written) == 1
    assert b"/confirm/" in written[0].read_bytes()


def test_archive_index_and_feed_are_served(tmp_path: Path) -> None:
    from starlette.testclient import TestClient

    from subscribers.store.engine import open_store

    archive = tmp_path / "archive"
    archive.mkdir()
    (archive / "index.html").write_text("<h1>All issues</h1>")
    (archive / "feed.xml").write_text("<feed xmlns='http://www.w3.org/2005/Atom'/>")
    app = create_app(
        AppConfig(
            engine=open_store(f"sqlite:///{tmp_path / 'mp.db'}"),
            secret_key="k",
            public_url="http://127.0.0.1:8080",
            transport=None,  # type: ignore[arg-type]
            sender="The AI Morning Post <briefing@example.com>",
            archive_dir=archive,
        )
    )
    client = TestClient(app)
    index = client.get("/issues/")
    assert (index.status_code, index.text) == (200, "<h1>All issues</h1>")
    feed = client.get("/issues/feed.xml")
    assert feed.status_code == 200
    assert feed.headers["content-type"].startswith("application/atom+xml")
    (archive / "feed.xml").unlink()
    assert client.get("/issues/feed.xml").status_code == 404
