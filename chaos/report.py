"""Scenario outcomes and the markdown table ``make chaos`` prints."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class Outcome:
    """What one scenario observed. ``lost`` counts acknowledged (or produced) rows not stored."""

    scenario: str
    sent: int
    stored: int
    duplicates: int
    lost: int
    recovery_s: float | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.lost == 0 and self.duplicates == 0


def table(outcomes: list[Outcome]) -> str:
    """A markdown table of outcomes."""
    lines = ["| scenario | sent | stored | duplicates | lost | recovery time | notes |",
             "|---|---:|---:|---:|---:|---:|---|"]
    for o in outcomes:
        recovery = "-" if o.recovery_s is None else f"{o.recovery_s:.1f} s"
        lines.append(f"| {o.scenario} | {o.sent} | {o.stored} | {o.duplicates} | {o.lost} | {recovery} | "
                     f"{'; '.join(o.notes)} |")
    return "\n".join(lines)
