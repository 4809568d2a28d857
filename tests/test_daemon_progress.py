"""The demo's progress lines (``daemon/progress.py``): bar, counts, what finished, and the estimate, with an
injected clock (no timing in the test)."""

from __future__ import annotations

import io

from cinealert.daemon.progress import Progress, bar, eta_text


class _Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_eta_text_units() -> None:
    assert eta_text(44.6) == "~45s"
    assert eta_text(185) == "~3m05s"
    assert eta_text(3720) == "~1h02m"
    assert eta_text(-3) == "~0s"


def test_bar_fills_in_proportion() -> None:
    assert bar(0, 4, width=8) == "[........]"
    assert bar(1, 4, width=8) == "[##......]"
    assert bar(4, 4, width=8) == "[########]"
    assert bar(0, 0, width=4) == "[####]"


def test_lines_carry_counts_label_and_estimate() -> None:
    clock, out = _Clock(), io.StringIO()
    p = Progress("scenes built", 4, out=out, clock=clock, tty=False)
    clock.now += 30
    p.step(label="flood/0 rendered")
    clock.now += 30
    p.prewarm_callback()(2, 4, "flood/1 hit")
    clock.now += 60
    p.step(4)
    lines = out.getvalue().splitlines()
    assert lines[0].endswith("scenes built 1/4 (flood/0 rendered), ~1m30s left")  # 30 s a step, 3 to go
    assert lines[1].endswith("scenes built 2/4 (flood/1 hit), ~1m00s left")
    assert lines[2] == "[" + "#" * 20 + "] scenes built 4/4, done in 2m00s"


def test_a_terminal_line_is_redrawn_in_place() -> None:
    clock, out = _Clock(), io.StringIO()
    p = Progress("alerts finished", 2, out=out, clock=clock, tty=True)
    p.step()
    p.step()
    text = out.getvalue()
    assert text.count("\r") == 2 and text.endswith("alerts finished 2/2, done in 0s\n")
    assert "\n" not in text[:-1]


def test_an_estimate_from_the_first_step_leaves_out_the_wait_before_it() -> None:
    clock, out = _Clock(), io.StringIO()
    p = Progress("alerts finished", 5, out=out, clock=clock, tty=False, from_first=True)
    clock.now += 600  # the prewarm: no alert is read meanwhile
    p.step()
    clock.now += 10
    p.step()
    first, second = out.getvalue().splitlines()
    assert first.endswith("alerts finished 1/5")  # no estimate from one point
    assert second.endswith("alerts finished 2/5, ~30s left")  # 10 s a step since the first, 3 to go
