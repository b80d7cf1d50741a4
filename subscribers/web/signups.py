"""Sign-ups handled off the request path, by one worker thread.

The subscribe form only validates the address and hands it here; recording it in the store
and mailing the confirmation happen in the worker. So the answer to the form is the same
work, and takes the same time, whatever the address: new, pending, active or suppressed
(the form's timing must not tell a stranger who is on the list), and a slow mail server
never holds a request. A full queue refuses new sign-ups (the form says "try later");
the worker survives anything one sign-up does, logging it.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable
from dataclasses import dataclass

log = logging.getLogger(__name__)
CAPACITY = 1000  # sign-ups waiting; the rate limits keep it far from full


@dataclass(frozen=True)
class Signup:
    email: str  # already normalised
    name: str


class SignupQueue:
    """A bounded queue of sign-ups and the one daemon thread that handles them in order."""

    def __init__(self, handle: Callable[[Signup], None], *, capacity: int = CAPACITY) -> None:
        self._handle = handle
        self._queue: queue.Queue[Signup | None] = queue.Queue(maxsize=capacity)
        self._thread: threading.Thread | None = None
        self._start_lock = threading.Lock()

    def submit(self, signup: Signup) -> bool:
        """Queue ``signup``; False when the queue is full (nothing was queued)."""
        self._ensure_worker()
        try:
            self._queue.put_nowait(signup)
        except queue.Full:
            return False
        return True

    def join(self) -> None:
        """Wait until every queued sign-up is handled (shutdown, tests)."""
        self._queue.join()

    def stop(self, timeout: float = 10.0) -> None:
        """Handle what is queued, then end the worker (within ``timeout`` seconds)."""
        thread = self._thread
        if thread is None:
            return
        self._queue.put(None)
        thread.join(timeout)
        if thread.is_alive():
            log.warning("sign-ups still queued at shutdown: %d", self._queue.qsize())
        self._thread = None

    def _ensure_worker(self) -> None:
        with self._start_lock:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(
                    target=self._work, name="signups", daemon=True
                )
                self._thread.start()

    def _work(self) -> None:
        while True:
            signup = self._queue.get()
            try:
                if signup is None:
                    return
                self._handle(signup)
            except Exception:  # the worker outlives any one sign-up; the log says what failed
                log.exception("a sign-up could not be handled")
            finally:
                self._queue.task_done()
