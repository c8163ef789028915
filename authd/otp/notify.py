"""OTP delivery: a `Notifier` interface, an outbox file and a signed webhook, run off the
request path.

- `OutboxNotifier` appends one JSON line per message to `data_dir/outbox.jsonl` (mode 0600):
  the embedded default, playing the SMS/e-mail gateway (and what tests read). Lines older
  than the OTP lifetime are dropped, so the file never holds a code that still matters for
  longer than it lives; production refuses it unless AUTHD_OTP_OUTBOX_IN_PRODUCTION=true.
- `WebhookNotifier` POSTs the same JSON to a gateway, signed with
  `X-Authd-Signature: sha256=<hex HMAC-SHA256 of the body>`, retrying transient failures
  (connection errors, 5xx, 429) with exponential backoff and full jitter (tenacity).
- `BackgroundNotifier` runs either on a worker thread so the API answers without waiting.

A message's text holds the code: it is never logged, and its repr hides it.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Literal, Protocol

import httpx
from tenacity import Retrying, retry_if_exception_type, stop_after_attempt, wait_random_exponential

from authd.settings import Settings
from keys.signing import hmac_sha256_hex

log = logging.getLogger("authd.otp.notify")
Channel = Literal["sms", "email"]
OUTBOX_FILE = "outbox.jsonl"


@dataclass(frozen=True)
class OtpMessage:
    at: int
    channel: Channel
    to: str
    txn_id: str
    text: str

    def __repr__(self) -> str:  # destination and code stay out of logs and tracebacks
        return f"OtpMessage({self.channel}, txn={self.txn_id})"

    def to_json(self) -> bytes:
        return json.dumps(asdict(self), separators=(",", ":"), sort_keys=True).encode()


class Notifier(Protocol):
    def send(self, message: OtpMessage) -> None: ...


class DeliveryFailed(Exception):
    """A delivery that will not be retried (or whose retries are spent); never holds the code."""


class OutboxNotifier:
    """Appends to a JSONL file: one `write(2)` of one line under O_APPEND and an exclusive
    flock, so lines from threads and worker processes never interleave. When the oldest line
    is older than `max_age` seconds (relative to the new message), the file is rewritten in
    place under the same lock with only the recent lines."""

    def __init__(self, path: Path, max_age: int | None = None) -> None:
        self.path, self.max_age = path, max_age
        self._lock = threading.Lock()

    def send(self, message: OtpMessage) -> None:
        line = message.to_json() + b"\n"
        with self._lock:
            fd = os.open(self.path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX)
                if self.max_age is not None:
                    _prune(fd, message.at - self.max_age)
                os.write(fd, line)
            finally:
                os.close(fd)  # closing releases the flock


def _at(line: bytes) -> int:
    try:
        return int(json.loads(line)["at"])
    except (ValueError, KeyError, TypeError):
        return 0  # an unreadable line is dropped with the stale ones


def _prune(fd: int, cutoff: int) -> None:
    """Drop lines with `at` < cutoff; cheap when the first line is recent (one short read)."""
    head = os.pread(fd, 4096, 0).split(b"\n", 1)[0]
    if not head or _at(head) >= cutoff:
        return
    size = os.fstat(fd).st_size
    lines = os.pread(fd, size, 0).splitlines(keepends=True)
    kept = b"".join(ln for ln in lines if ln.endswith(b"\n") and _at(ln) >= cutoff)
    os.ftruncate(fd, 0)
    if kept:
        os.write(fd, kept)


class _Transient(Exception):
    """One failed attempt worth retrying (unreachable, 5xx, 429)."""


class WebhookNotifier:
    def __init__(self, url: str, secret: bytes, *, tries: int = 3, backoff: float = 0.2,
                 timeout: float = 5.0, sleep: Callable[[float], None] = time.sleep) -> None:
        self.url, self.secret, self.tries = url, secret, tries
        # Exponential backoff with full jitter (a random wait up to 0.2, 0.4, 0.8 ... s) so
        # the workers of several servers do not retry a recovering gateway in step.
        self._retrying = Retrying(
            stop=stop_after_attempt(tries), wait=wait_random_exponential(multiplier=backoff),
            retry=retry_if_exception_type(_Transient), sleep=sleep, reraise=True)
        self.http = httpx.Client(timeout=timeout)

    def send(self, message: OtpMessage) -> None:
        body = message.to_json()
        headers = {"Content-Type": "application/json",
                   "X-Authd-Signature": "sha256=" + hmac_sha256_hex(self.secret, body)}
        try:
            self._retrying(self._post, body, headers)
        except _Transient as exc:
            raise DeliveryFailed(f"gave up after {self.tries} attempt(s): {exc}") from None

    def _post(self, body: bytes, headers: dict[str, str]) -> None:
        """One attempt: returns when delivered, raises _Transient or DeliveryFailed."""
        try:
            status = self.http.post(self.url, content=body, headers=headers).status_code
        except httpx.HTTPError as exc:
            log.warning("webhook delivery attempt failed", extra={"error": type(exc).__name__})
            raise _Transient("unreachable") from None
        if 200 <= status < 300:
            return
        log.warning("webhook delivery attempt refused", extra={"status": status})
        if status >= 500 or status == 429:
            raise _Transient("transient")
        raise DeliveryFailed("gave up after 1 attempt(s): permanent")

    def close(self) -> None:
        self.http.close()


class BackgroundNotifier:
    """Runs an inner notifier on one worker thread; `send` only enqueues."""

    _STOP = object()

    def __init__(self, inner: Notifier) -> None:
        self.inner = inner
        self._queue: queue.Queue[object] = queue.Queue()
        self._thread: threading.Thread | None = None
        self._start_lock = threading.Lock()

    def send(self, message: OtpMessage) -> None:
        self._ensure_started()
        self._queue.put(message)

    def flush(self) -> None:
        """Wait until every message sent so far was delivered or given up."""
        if self._thread is not None:
            self._queue.join()

    def close(self) -> None:
        if self._thread is not None:
            self._queue.put(self._STOP)
            self._thread.join(timeout=30)
        close = getattr(self.inner, "close", None)
        if close:
            close()

    def _ensure_started(self) -> None:
        with self._start_lock:
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="authd-notify",
                                                daemon=True)
                self._thread.start()

    def _run(self) -> None:
        while (item := self._queue.get()) is not self._STOP:
            self._deliver(item)  # type: ignore[arg-type]
            self._queue.task_done()
        self._queue.task_done()

    def _deliver(self, message: OtpMessage) -> None:
        try:
            self.inner.send(message)
        except Exception as exc:  # a failed delivery must never stop the worker
            error = str(exc) if isinstance(exc, DeliveryFailed) else type(exc).__name__
            log.error("OTP delivery failed", extra={
                "txn_id": message.txn_id, "channel": message.channel, "error": error})


def build_notifier(settings: Settings, data_dir: Path) -> BackgroundNotifier:
    """The configured notifier, wrapped so delivery runs off the request path."""
    if settings.otp_notifier == "outbox":
        return BackgroundNotifier(OutboxNotifier(data_dir / OUTBOX_FILE,
                                                 max_age=settings.otp_ttl_seconds))
    if not settings.otp_webhook_url or settings.otp_webhook_secret is None:
        raise ValueError("AUTHD_OTP_WEBHOOK_URL and AUTHD_OTP_WEBHOOK_SECRET are required "
                         "with AUTHD_OTP_NOTIFIER=webhook")
    secret = settings.otp_webhook_secret.get_secret_value().encode()
    return BackgroundNotifier(WebhookNotifier(
        settings.otp_webhook_url, secret, tries=settings.otp_webhook_tries,
        backoff=settings.otp_webhook_backoff_seconds,
        timeout=settings.otp_webhook_timeout_seconds))
