"""The fleet overview at scale: which checkpoints have a problem, filters, order and pages.

Problems, most urgent first: ``offline`` (the ingest lost it), ``fail`` (a
component reports FAIL), ``silent`` (online but no detection in the last hour:
a camera that reads nothing) and ``backlog`` (its outbox grew by at least
:data:`BACKLOG_GROWTH` since a report 10-40 minutes earlier: deliveries fall
behind). The overview lists checkpoints with problems first, then ``never``
seen ones, then WARN, then the rest, each group by id; counts are over the
whole fleet whatever the filter, so they stay visible while paging.
"""

from __future__ import annotations

from dataclasses import dataclass

from .queries import CheckpointSummary

PROBLEMS = ("offline", "fail", "silent", "backlog")
STATES = ("problems", *PROBLEMS, "never", "warn", "online")
BACKLOG_GROWTH = 10
PAGE_SIZE = 50


def problems_of(s: CheckpointSummary) -> tuple[str, ...]:
    """The problems of one checkpoint, most urgent first (empty when it is fine)."""
    found = []
    if s.status == "offline":
        found.append("offline")
    if s.worst == "FAIL":
        found.append("fail")
    if s.status == "online" and s.detections_last_hour == 0:
        found.append("silent")
    if s.backlog is not None and s.backlog_before is not None and s.backlog - s.backlog_before >= BACKLOG_GROWTH:
        found.append("backlog")
    return tuple(found)


def _rank(s: CheckpointSummary) -> tuple:
    problems = problems_of(s)
    if problems:
        return (0, PROBLEMS.index(problems[0]), s.checkpoint_id)
    group = 1 if s.status == "never" else 2 if s.worst == "WARN" else 3
    return (group, 0, s.checkpoint_id)


def _has(s: CheckpointSummary, state: str) -> bool:
    if state == "problems":
        return bool(problems_of(s))
    if state in PROBLEMS:
        return state in problems_of(s)
    if state == "warn":
        return s.worst == "WARN"
    return s.status == state


@dataclass(frozen=True, slots=True)
class FleetQuery:
    """What the overview shows: a site (``""``: all), a state from :data:`STATES` (``""``: all), a text
    found in the id, name, site or hostname, and a 1-based page."""

    site: str = ""
    state: str = ""
    text: str = ""
    page: int = 1

    @classmethod
    def from_args(cls, args) -> FleetQuery:
        """From request arguments; unknown states and bad pages fall back to all / page 1."""
        state = args.get("state", "")
        try:
            page = max(1, min(int(args.get("page", "1")), 10_000))
        except ValueError:
            page = 1
        return cls(args.get("site", "")[:64], state if state in STATES else "", args.get("q", "").strip()[:64], page)

    def matches(self, s: CheckpointSummary) -> bool:
        if self.site and s.site != self.site:
            return False
        if self.state and not _has(s, self.state):
            return False
        text = self.text.casefold()
        return not text or any(text in v.casefold() for v in (s.checkpoint_id, s.name, s.site, s.hostname))


@dataclass(frozen=True, slots=True)
class FleetPage:
    """One page of the overview, with the fleet-wide counts."""

    rows: list[CheckpointSummary]
    matching: list[CheckpointSummary]
    page: int
    pages: int
    counts: dict[str, int]
    sites: list[str]

    @property
    def complete(self) -> bool:
        """True when the table shows the whole fleet (live updates may add new checkpoints to it)."""
        return len(self.rows) == len(self.matching) == self.counts["all"]


def counts_of(summaries: list[CheckpointSummary]) -> dict[str, int]:
    """How many checkpoints are in each state, over the whole list."""
    counts = {state: sum(1 for s in summaries if _has(s, state)) for state in STATES}
    counts["all"] = len(summaries)
    return counts


def fleet_page(summaries: list[CheckpointSummary], query: FleetQuery, page_size: int = PAGE_SIZE) -> FleetPage:
    """Filter, order (problems first) and cut one page."""
    matching = sorted((s for s in summaries if query.matches(s)), key=_rank)
    pages = max(1, -(-len(matching) // page_size))
    page = min(query.page, pages)
    rows = matching[(page - 1) * page_size:page * page_size]
    sites = sorted({s.site for s in summaries if s.site})
    return FleetPage(rows, matching, page, pages, counts_of(summaries), sites)
