"""Limits: request rates (in-memory sliding windows) and request body sizes.

`await rate_limit(request, bucket, limit, per_seconds)` counts one hit for the client's IP
address and, when someone is signed in, for their account; `key=` counts against that key
alone (for instance an e-mail address). Over the limit it raises a 429 with Retry-After.
The windows live in the process's memory (`RateLimiter`), or, with several processes
(`scrutin serve --workers N`, SCRUTIN_SHARED_RATE_LIMITS=true), in PostgreSQL
(`DatabaseRateLimiter`, migration 0013) so that every process and machine counts together.
`count_hit` and `wait_before` use whichever the app has.
"""

from __future__ import annotations

import math
import re
import time
from collections import OrderedDict, deque
from collections.abc import Callable

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from web import errors

MAX_BODY_BYTES = 2 * 1024 * 1024
# An allow-list import may hold 100,000 lines (voting.eligibility.MAX_ALLOW_LIST_ROWS): its
# file may take 6 MiB, plus the rest of the multipart form.
MAX_IMPORT_FILE_BYTES = 6 * 1024 * 1024
_IMPORT_PATH = re.compile(r"/primaries/[^/]+/admin/eligibility/import")
MAX_TRACKED_KEYS = 100_000

# Sign-in requests (mails sent, codes and passwords tried): per IP and per address.
SIGNIN_BUCKET = "signin"
SIGNIN_LIMIT_PER_IP = (20, 600)
SIGNIN_LIMIT_PER_EMAIL = (5, 900)
# Supports and withdrawals: generous per address (a campaign event shares one), tight per
# account (nobody needs to flip supports dozens of times in ten minutes).
SUPPORT_LIMIT_PER_IP = (300, 600)
SUPPORT_LIMIT_PER_ACCOUNT = (30, 600)


class RateLimiter:
    """Sliding windows of hit times per (bucket, key); the oldest keys are forgotten first."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self.windows: OrderedDict[tuple[str, str], deque[float]] = OrderedDict()

    def hit(self, bucket: str, key: str, limit: int, per_seconds: float) -> float:
        """Count a hit; return 0 when allowed, else the seconds to wait (nothing counted)."""
        now = self.clock()
        window = self.windows.get((bucket, key))
        if window is None:
            window = self.windows[(bucket, key)] = deque()
            if len(self.windows) > MAX_TRACKED_KEYS:
                self.windows.popitem(last=False)
        else:
            self.windows.move_to_end((bucket, key))
        while window and window[0] <= now - per_seconds:
            window.popleft()
        if len(window) >= limit:
            return max(window[0] + per_seconds - now, 0.001)
        window.append(now)
        return 0.0

    def waiting(self, bucket: str, key: str, limit: int, per_seconds: float) -> float:
        """The seconds to wait before a hit would be allowed (0 when it would), counting
        nothing: for limits that count only failures, checked before each attempt."""
        window = self.windows.get((bucket, key))
        now = self.clock()
        recent = [t for t in window or () if t > now - per_seconds]
        if len(recent) < limit:
            return 0.0
        return max(recent[-limit] + per_seconds - now, 0.001)

    def reset(self, bucket: str | None = None) -> None:
        """Forget the hits of a bucket and its `bucket-…` sub-buckets (or all): for tests."""
        for name in [
            k
            for k in self.windows
            if bucket is None or k[0] == bucket or k[0].startswith(bucket + "-")
        ]:
            del self.windows[name]


class DatabaseRateLimiter:
    """The same sliding windows in PostgreSQL, shared by every process on the database."""

    def __init__(self, pool: object) -> None:
        self.pool = pool

    async def hit(self, bucket: str, key: str, limit: int, per_seconds: float) -> float:
        return await self._ask(bucket, key, limit, per_seconds, count=True)

    async def waiting(self, bucket: str, key: str, limit: int, per_seconds: float) -> float:
        return await self._ask(bucket, key, limit, per_seconds, count=False)

    async def _ask(
        self, bucket: str, key: str, limit: int, per_seconds: float, *, count: bool
    ) -> float:
        wait = await self.pool.fetchval(  # type: ignore[attr-defined]
            "SELECT scrutin_rate_hit($1, $2, $3, $4, $5)",
            bucket,
            key,
            limit,
            float(per_seconds),
            count,
        )
        return float(wait)

    async def reset(self, bucket: str | None = None) -> None:
        """Forget the hits of a bucket and its `bucket-…` sub-buckets (or all): for tests."""
        await self.pool.execute(  # type: ignore[attr-defined]
            "DELETE FROM rate_limit_hits WHERE $1::text IS NULL OR bucket = $1"
            " OR starts_with(bucket, $1 || '-')",
            bucket,
        )


async def count_hit(app: object, bucket: str, key: str, limit: int, per_seconds: float) -> float:
    """Count a hit (0) or say how long to wait (nothing counted), in the app's limiter."""
    shared = getattr(app.state, "shared_rate_limiter", None)  # type: ignore[attr-defined]
    if shared is not None:
        return await shared.hit(bucket, key, limit, per_seconds)
    return limiter_for(app).hit(bucket, key, limit, per_seconds)


async def wait_before(app: object, bucket: str, key: str, limit: int, per_seconds: float) -> float:
    """How long before a hit would be allowed, counting nothing (limits on failures)."""
    shared = getattr(app.state, "shared_rate_limiter", None)  # type: ignore[attr-defined]
    if shared is not None:
        return await shared.waiting(bucket, key, limit, per_seconds)
    return limiter_for(app).waiting(bucket, key, limit, per_seconds)


def limiter_for(app: object) -> RateLimiter:
    state = app.state  # type: ignore[attr-defined]
    limiter = getattr(state, "rate_limiter", None)
    if limiter is None:
        limiter = state.rate_limiter = RateLimiter()
    return limiter


def client_ip(request: Request) -> str:
    return request.client.host if request.client else "unknown"


async def rate_limit(
    request: Request, bucket: str, limit: int, per_seconds: float, key: str | None = None
) -> None:
    """Count this request in `bucket`; raise HTTPException(429) with Retry-After when over.

    Without `key`, the client IP is counted, and the signed-in account too (both must be
    under the limit). With `key`, only that key is counted.
    """
    if key is not None:
        keys = [f"key:{key}"]
    else:
        keys = [f"ip:{client_ip(request)}"]
        user = request.scope.get("user")
        if user is not None:
            keys.append(f"account:{user.id}")
    for name in keys:
        wait = await count_hit(request.app, bucket, name, limit, per_seconds)
        if wait:
            raise HTTPException(429, headers={"Retry-After": str(math.ceil(wait))})


async def limit_supports(request: Request, account_id: object) -> None:
    """Rate limit for support and withdrawal requests, per address and per account."""
    await rate_limit(request, "support-ip", *SUPPORT_LIMIT_PER_IP, key=client_ip(request))
    await rate_limit(
        request, "support-account", *SUPPORT_LIMIT_PER_ACCOUNT, key=f"account:{account_id}"
    )


class BodyTooLarge(HTTPException):
    def __init__(self) -> None:
        super().__init__(413)


class BodySizeLimitMiddleware:
    """Refuse request bodies over `max_bytes` with 413, by Content-Length or while reading."""

    def __init__(self, app: ASGIApp, max_bytes: int = MAX_BODY_BYTES) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        max_bytes = self.max_bytes
        if _IMPORT_PATH.fullmatch(scope.get("path", "")):
            max_bytes = max(max_bytes, MAX_IMPORT_FILE_BYTES + 64 * 1024)
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None:
            try:
                too_large = int(declared) > max_bytes
            except ValueError:
                too_large = True
            if too_large:
                await self._refuse(scope, receive, send)
                return
        received = 0

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > max_bytes:
                    raise BodyTooLarge()
            return message

        watched_send = errors.StartWatch(send)
        try:
            await self.app(scope, limited_receive, watched_send)
        except BodyTooLarge:
            if watched_send.started:
                raise
            await self._refuse(scope, receive, send)

    async def _refuse(self, scope: Scope, receive: Receive, send: Send) -> None:
        response = errors.error_response(Request(scope, receive), 413)
        response.headers["Connection"] = "close"
        await response(scope, receive, send)
