"""One poller for readiness and recovery detection."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, TypeVar

from chaos.errors import WaitTimeoutError

if TYPE_CHECKING:
    from collections.abc import Callable

__all__ = ["wait_for"]

T = TypeVar("T")


def wait_for(
    check: Callable[[], T | None],
    *,
    what: str,
    timeout: float,
    interval: float = 0.05,
    not_yet: tuple[type[BaseException], ...] = (),
    hint: str = "",
) -> T:
    """Call ``check`` until it returns a true value (not ``None``, ``False``, ``0`` or empty), and return it.

    A count is not ready at 0: ``wait_for(writer.acked_count, ...)`` waits for the first write.

    Exceptions listed in ``not_yet`` mean "not ready yet"; the last one seen is
    quoted in the timeout message so the reader sees what was observed.
    """
    deadline = time.monotonic() + timeout
    last_error: BaseException | None = None
    while True:
        try:
            result = check()
        except not_yet as exc:
            last_error = exc
        else:
            if result:
                return result
        if time.monotonic() >= deadline:
            observed = f"; last error: {last_error!r}" if last_error else ""
            message = f"timed out after {timeout:.1f}s waiting for {what}{observed}"
            raise WaitTimeoutError(f"{message}. {hint}".rstrip(". ") + ("." if hint else ""))
        time.sleep(interval)
