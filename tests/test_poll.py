"""``poll``: the one wait of the project says what it waited for and what it saw last."""

from __future__ import annotations

import io

import pytest

from sampleapp.errors import SampleappError, StackError
from sampleapp.poll import PENDING, Pending, poll
from sampleapp.progress import Progress


def test_it_returns_the_first_answer_that_is_not_pending() -> None:
    answers = iter([PENDING, Pending("1 of 3"), 0, 5])
    assert poll("Waiting for servers", lambda: next(answers), 30, interval=0.001) == 0


def test_giving_up_names_what_was_waited_for_and_the_last_thing_seen() -> None:
    calls: list[Pending] = []

    def check() -> Pending:
        calls.append(Pending(f"{len(calls)} of 3 healthy"))
        return calls[-1]

    with pytest.raises(StackError) as failure:
        poll("Waiting for web to be healthy", check, 0.05, interval=0.001, fail=StackError)
    assert str(failure.value) == (
        f"Gave up after 0 s waiting for web to be healthy; last seen: {calls[-1].seen}"
    )


def test_a_check_that_raises_ends_the_wait_with_its_own_error() -> None:
    def crashed() -> Pending:
        raise StackError("web exited")

    with pytest.raises(StackError, match="web exited"):
        poll("Waiting for web", crashed, 30, interval=0.001)


def test_the_progress_line_names_the_wait_and_the_default_error_is_the_projects() -> None:
    out = io.StringIO()
    with pytest.raises(SampleappError, match="waiting for etcd to answer"):
        poll("Waiting for etcd to answer", lambda: PENDING, 0.01, progress=Progress(stream=out))
    assert out.getvalue().startswith("▶ Waiting for etcd to answer …")
