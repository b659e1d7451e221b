"""The one go / caution / no-go / not-assessable vocabulary, with its colours and reasons.

Rules, ground truth, the report, the CLI and the templates all speak it: a verdict (what
``assess`` predicts from the rules) and an outcome (what ``evaluate`` measures as ground
truth) take the same four values, drawn the same way everywhere.
"""

from __future__ import annotations

from dataclasses import dataclass

GO, CAUTION, NO_GO, NOT_ASSESSABLE = "go", "caution", "no-go", "not-assessable"
# What a sweep shows for a task type it did not assess at an amount: stopped after two
# decisive no-gos (--search every), or skipped below its largest go (the frontier search).
STOPPED, SKIPPED = "stopped", "skipped"


@dataclass(frozen=True)
class VerdictStyle:
    """How one verdict value looks: a fill colour (figures, report badges), a text colour
    (tables on white) and the rich style of the terminal tables."""

    name: str
    fill: str
    text: str
    style: str


VERDICT_STYLES: dict[str, VerdictStyle] = {
    k.name: k
    for k in (
        VerdictStyle(GO, fill="#1a9850", text="#1a9850", style="green"),
        VerdictStyle(CAUTION, fill="#f0a500", text="#b07800", style="yellow"),
        VerdictStyle(NO_GO, fill="#d73027", text="#d73027", style="red"),
        VerdictStyle(NOT_ASSESSABLE, fill="#9e9e9e", text="#777", style="dim"),
    )
}
UNKNOWN_FILL = "#cccccc"

# A reason that makes a verdict caution starts with this marker, so that a person reading
# the list of reasons sees which one decided it; what would settle a caution is in the
# verdict's own ``settle`` field (result.json), not parsed out of the text.
CAUTION_MARK = "Caution: "
# The competence gate's phrase for a task type whose dense model is not informative.
NOT_COMPETENT = "not assessable with this model/suite"
NOT_ASSESSABLE_MARK = NOT_COMPETENT.capitalize() + ": "
BROKEN_MARK = "Degenerate pruned model: "


def caution_reason(text: str) -> str:
    """A reason that makes the verdict caution."""
    return CAUTION_MARK + text


def not_assessable_reason(why: str) -> str:
    """The reason of a not-assessable verdict: the dense model is not competent."""
    return NOT_ASSESSABLE_MARK + why


def not_assessable_text(reason: str) -> str:
    """The competence gate's reason (which may start with the phrase already) as the
    reason of a not-assessable verdict, the phrase said once."""
    if reason.startswith(NOT_COMPETENT):
        return reason[:1].upper() + reason[1:]
    return not_assessable_reason(reason)


def broken_reason(why: str) -> str:
    """The reason of a no-go for a pruned model that is broken outright."""
    return BROKEN_MARK + why


def style(verdict: str | None) -> str:
    """The rich style of a verdict ('' for none or an unknown one)."""
    shown = VERDICT_STYLES.get(verdict or "")
    return shown.style if shown else ""
