"""Grouping text lines into plate candidates: rows, and Thai series + province pairs."""

from __future__ import annotations

import numpy as np

from edge_agent.vision.base import Box, TextLine
from edge_agent.vision.cpu import candidates_from_lines, group_rows


def _line(x, y, w, h):
    quad = np.array([[x, y], [x + w, y], [x + w, y + h], [x, y + h]], np.float32)
    return TextLine(quad, Box(x, y, w, h))


def test_series_and_number_with_a_tail_are_one_row():
    """'ถฏ' (taller: ฏ's tail) and '6719' side by side, top-aligned, form one row."""
    rows = group_rows([_line(403, 517, 118, 52), _line(352, 527, 76, 67)])
    assert len(rows) == 1 and [ln.box.x for ln in rows[0]] == [352, 403]


def test_province_under_series_is_a_second_row_and_a_pair_candidate():
    """A smaller line overlapping the bottom of a tall one is the next row; the pair is a candidate."""
    series, province = _line(515, 568, 217, 77), _line(561, 630, 132, 28)
    assert len(group_rows([series, province])) == 2
    cands = candidates_from_lines([series, province])
    assert Box(515, 568, 217, 90) in [c.box for c in cands]


def test_widest_row_below_is_the_province():
    """A sliver split off the province line does not hide the province itself."""
    cands = candidates_from_lines([_line(641, 519, 252, 60), _line(711, 585, 16, 11), _line(731, 586, 72, 39)])
    pairs = [c for c in cands if len(c.lines) == 2 and c.lines[0].box.w == 252]
    assert [c.lines[1].box.w for c in pairs] == [72]


def test_far_apart_lines_are_separate_candidates():
    """A road sign far from the plate is its own candidate."""
    cands = candidates_from_lines([_line(100, 100, 200, 40), _line(700, 500, 200, 40)])
    assert len(cands) == 2
