"""wait_for waits for a true value: a count of 0 or an empty result is "not yet", never "ready"."""

from __future__ import annotations

import itertools

import pytest

from chaos.errors import WaitTimeoutError
from chaos.wait import wait_for


@pytest.mark.parametrize("not_yet", [None, False, 0, "", []])
def test_a_false_value_is_not_ready(not_yet: object) -> None:
    with pytest.raises(WaitTimeoutError, match=r"timed out after 0\.1s waiting for the thing"):
        wait_for(lambda: not_yet, what="the thing", timeout=0.1, interval=0.01)


def test_a_count_is_waited_for_until_it_is_not_zero() -> None:
    counts = itertools.chain([0, 0, 0], itertools.repeat(2))
    assert wait_for(lambda: next(counts), what="the first write", timeout=5, interval=0.001) == 2


def test_an_exception_listed_as_not_yet_is_retried_and_quoted_on_timeout() -> None:
    def check() -> bool:
        raise ConnectionError("refused")

    with pytest.raises(WaitTimeoutError, match="refused"):
        wait_for(check, what="the server", timeout=0.1, interval=0.01, not_yet=(ConnectionError,))
