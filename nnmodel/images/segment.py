"""The digits of a number image found without a network: ink, glyphs, and where wide glyphs may be cut.

A glyph is the ink of one digit, or of a few digits that touch. `glyphs(grey)` finds them left to
right; `cut_options(glyphs)` proposes cuts for those too wide to be one digit, which
`nnmodel.images.numbers` keeps or drops by reading the parts; `segment(grey)` decides by width alone.

Ink: as nnmodel.images.paper finds it (the paper estimated and subtracted; what stands well above
its noise is ink). Pieces (connected ink) smaller than a speck are dirt; a small piece joins the
tall piece whose columns it shares (the floating bar of a 5, a 4's stem written apart), tall pieces
sharing most columns are one digit.

Cuts are top-to-bottom paths crossing the least ink (one column per row, moving at most one column
per row), each kept in a band around one of a row of start columns, found for all wide glyphs at once
by dynamic programming. "Wide" is measured against the line's digit height (the median glyph height
of the image), so a pair no taller than its neighbours still counts.

Units: working pixels; boxes are (x0, x1, y0, y1) with x1, y1 exclusive.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from itertools import combinations

import numpy as np
from scipy import ndimage

from nnmodel.images.paper import PAPER_CODE, ink_strength

MIN_PIECE = 6           # pixels: smaller pieces are specks whatever the digit height (noise on blank paper)
GROW = 1                # a glyph's faint ink (stroke edges) lies at most this far outside its pieces' box
SPECK = 0.25            # pieces smaller than this x the digit height, both ways, are dirt
TALL = 0.5              # pieces at least this x the digit height tall may be a digit alone
JOIN = 0.5              # tall pieces sharing this share of the narrower one's columns are one digit
CUT_WIDTH = 1.1         # glyphs this wide (x the line's digit height) may be touching digits
THREE_WIDTH = 1.6       # ... and this wide may be three
THREE_APART = 0.3       # the two cuts into three parts lie this far apart (x the digit height) ...
THREE_PATHS = 4         # ... and are two of this many cheapest paths
BAND = 0.15             # a cut path strays at most this far from its start column (x the digit height)
STEP = 0.06             # start columns of cut paths lie this far apart (x the digit height)
APART = 0.06            # paths kept lie this far apart on average (x the digit height)
THREE_ASPECT = 1.8      # segment() without a network: glyphs this much wider than tall are three
SEGMENT_ASPECT = 1.5    # without a network, glyphs this much wider than tall are cut
MIN_SHARE = 0.12        # each part of a cut holds at least this share of the ink (no slivers; a 1 beside an 8)
DIAGONAL = 0.3          # cost of a path's sideways step, in ink pixels: keeps cuts upright
MAX_CUTS = 5            # paths tried per glyph


@dataclass
class Glyph:
    """A digit's ink in working pixels: box (x0, x1, y0, y1) and ink float32 (y1 - y0, x1 - x0), how
    far each pixel stands from the paper (0: paper, or another glyph's ink). A glyph joined from
    digit-sized pieces that share columns but do not touch (a 4 whose stem was written apart, or a
    slanted 1 over the next digit) also holds them apart, for recognition to choose."""

    box: tuple[int, int, int, int]
    ink: np.ndarray
    apart: list[Glyph] = field(default_factory=list)  # its digit-sized pieces side by side, not touching
    line: float = 0.0  # the digit height of its line (the median glyph height); 0: its own height

    def __post_init__(self):
        if not self.line:
            self.line = float(self.box[3] - self.box[2])

    @property
    def width(self) -> int:
        return self.box[1] - self.box[0]

    @property
    def mask(self) -> np.ndarray:
        return self.ink > 0

    @property
    def aspect(self) -> float:
        """Width over height."""
        x0, x1, y0, y1 = self.box
        return (x1 - x0) / (y1 - y0)


def segment(grey: np.ndarray) -> list[Glyph]:
    """The digits of grey (h, w), uint8 or float in [0, 1], either polarity, left to right, without a
    network: a glyph wider than SEGMENT_ASPECT x its height is cut into 2 parts (3 when wider than
    THREE_ASPECT), its pieces apart if they do not touch, else at its cheapest paths. A rough
    stand-in for nnmodel.images.numbers, which keeps a cut only when the network reads its parts better."""
    found = glyphs(grey)
    wide = [g for g in found if g.aspect > SEGMENT_ASPECT]
    chosen = {}
    for glyph, cuts in zip(wide, cut_options(wide)):
        parts = 3 if glyph.aspect > THREE_ASPECT else 2
        chosen[id(glyph)] = next((cut for cut in cuts if len(cut) == parts), cuts[0] if cuts else [glyph])
    return [part for glyph in found for part in chosen.get(id(glyph), [glyph])]


# ------------------------------------------------------------------ glyphs

def glyphs(grey: np.ndarray) -> list[Glyph]:
    """The glyphs of grey (h, w), uint8 or float in [0, 1], left to right; [] when blank."""
    if grey.dtype != np.uint8:
        grey = (np.clip(grey, 0, 1) * 255 + 0.5).astype(np.uint8)
    ink = ink_strength(grey)
    if ink is None:
        return []
    departure, confident, faint = ink
    labels, count = ndimage.label(confident, structure=np.ones((3, 3), bool))
    boxes = [(s[1].start, s[1].stop, s[0].start, s[0].stop) for s in ndimage.find_objects(labels)]
    labels[(labels == 0) & (departure > faint)] = count + 1  # faint ink, anyone's: stroke edges
    found = []
    for strokes in glyph_groups(boxes):
        glyph = glyph_of(departure, labels, boxes, [i for stroke in strokes for i in stroke])
        if len(strokes) > 1 and side_by_side([boxes[stroke[0]] for stroke in strokes]):
            glyph.apart = sorted((glyph_of(departure, labels, boxes, stroke) for stroke in strokes),
                                 key=lambda g: g.box[0] + g.box[1])
        found.append(glyph)
    if found:
        line = float(np.median([g.box[3] - g.box[2] for g in found]))
        for glyph in found:
            for one in [glyph, *glyph.apart]:
                one.line = line
    return sorted(found, key=lambda g: g.box[0] + g.box[1])


def glyph_groups(boxes: list[tuple[int, int, int, int]]) -> list[list[list[int]]]:
    """Pieces of connected ink (boxes x0, x1, y0, y1) grouped into glyphs, each a list of strokes: a
    tall piece with the small pieces sharing its columns most (a floating bar). Specks (smaller than
    SPECK x the digit height, or MIN_PIECE pixels) are dropped; tall pieces sharing most of the
    narrower one's columns are one glyph; a small piece sharing no columns is kept alone only
    when nearly digit-sized."""
    heights = [y1 - y0 for _, _, y0, y1 in boxes]
    sizes = [max(x1 - x0, y1 - y0) for x0, x1, y0, y1 in boxes]
    if max(sizes) < MIN_PIECE:
        return []
    tall = sorted(h for h in heights if h >= 0.6 * max(heights))
    height = (tall[(len(tall) - 1) // 2] + tall[len(tall) // 2]) / 2  # a digit's height (median), specks aside
    kept = [i for i, size in enumerate(sizes) if size >= max(SPECK * height, MIN_PIECE)]
    strokes = {i: [i] for i in kept if heights[i] >= TALL * height}
    groups: list[list[int]] = []
    spans: list[list[int]] = []  # each group's [x0, x1]
    for i in sorted(strokes, key=lambda i: boxes[i][0]):
        x0, x1 = boxes[i][:2]
        if spans and shared(spans[-1], x0, x1) >= JOIN * min(spans[-1][1] - spans[-1][0], x1 - x0):
            groups[-1].append(i)
            spans[-1] = [min(spans[-1][0], x0), max(spans[-1][1], x1)]
        else:
            groups.append([i])
            spans.append([x0, x1])
    alone = []
    for i in (i for i in kept if i not in strokes):
        overlaps = {j: shared(boxes[j][:2], *boxes[i][:2]) for j in strokes}
        best = max(overlaps, key=overlaps.get, default=None)
        if best is not None and overlaps[best] > 0:
            strokes[best].append(i)
        elif heights[i] >= 0.4 * height:
            alone.append([[i]])
    return [[strokes[i] for i in group] for group in groups] + alone


def side_by_side(boxes: list[tuple[int, int, int, int]]) -> bool:
    """Whether pieces (boxes x0, x1, y0, y1) could be digits side by side on a line: each shares
    most of the shorter one's rows with every other (a stroke written apart lies above or below)."""
    return all(shared(a[2:], *b[2:]) >= JOIN * min(a[3] - a[2], b[3] - b[2]) for a, b in combinations(boxes, 2))


def shared(span, x0: int, x1: int) -> int:
    """Columns x0:x1 shares with span (x0, x1) (negative: the gap between them)."""
    return min(span[1], x1) - max(span[0], x0)


def glyph_of(departure: np.ndarray, labels: np.ndarray, boxes: list, group: list[int]) -> Glyph:
    """The glyph of the pieces in group (piece i has label i + 1): their ink and the faint ink (the
    last label) in their box grown by GROW pixels, as float32 departures from the paper."""
    h, w = departure.shape
    x0, x1 = max(min(boxes[i][0] for i in group) - GROW, 0), min(max(boxes[i][1] for i in group) + GROW, w)
    y0, y1 = max(min(boxes[i][2] for i in group) - GROW, 0), min(max(boxes[i][3] for i in group) + GROW, h)
    mine = np.zeros(len(boxes) + 2, bool)
    mine[[i + 1 for i in group]] = mine[-1] = True
    codes = departure[y0:y1, x0:x1]
    return Glyph((x0, x1, y0, y1), np.where(mine[labels[y0:y1, x0:x1]], codes - np.float32(PAPER_CODE), np.float32(0)))


def trimmed(ink: np.ndarray, x0: int, y0: int) -> Glyph | None:
    """The glyph of ink (h, w) whose top-left pixel is (x0, y0), cut to its inked rows and columns;
    None when there is no ink."""
    rows, cols = np.flatnonzero(ink.any(axis=1)), np.flatnonzero(ink.any(axis=0))
    if not len(rows):
        return None
    box = (x0 + int(cols[0]), x0 + int(cols[-1]) + 1, y0 + int(rows[0]), y0 + int(rows[-1]) + 1)
    return Glyph(box, ink[rows[0]: rows[-1] + 1, cols[0]: cols[-1] + 1])


# ------------------------------------------------------------------ cuts

def cut_options(found: list[Glyph]) -> list[list[list[Glyph]]]:
    """For each glyph, its cuts (each a list of 2 or 3 part glyphs): its pieces apart, then cuts
    along the cheapest paths for glyphs at least CUT_WIDTH x the line's digit height wide (3 parts
    beyond THREE_WIDTH, along two of the THREE_PATHS cheapest)."""
    wide = [i for i, g in enumerate(found) if g.width >= CUT_WIDTH * g.line]
    options: list[list[list[Glyph]]] = [[g.apart] if g.apart else [] for g in found]
    for i, paths in zip(wide, cut_paths([found[i].mask for i in wide], [found[i].line for i in wide])):
        glyph = found[i]
        splits = [[p] for p in paths]
        if glyph.width > THREE_WIDTH * glyph.line:
            apart = THREE_APART * glyph.line
            ordered = sorted(paths[:THREE_PATHS], key=np.mean)
            splits += [[a, b] for a, b in combinations(ordered, 2) if np.all(a < b) and np.mean(b - a) >= apart]
        options[i] += [parts for split in splits if (parts := cut_parts(glyph, split))]
    return options


def cut_paths(masks: list[np.ndarray], lines: list[float]) -> list[list[np.ndarray]]:
    """Up to MAX_CUTS top-to-bottom paths (h,) int (the first column right of the cut, per row) for
    each ink mask (h, w) whose line's digits are lines[i] high, cheapest first.

    A path is sought around each of a row of start columns, every STEP x the digit height, within a
    band BAND x the digit height either side (so a path cannot slide off to the glyph's edge): the
    one crossing the least ink, sideways steps costing DIAGONAL. Paths must leave MIN_SHARE of the
    ink on either side and lie apart from each other. All bands of all masks are stacked (aligned at
    the bottom, padded above), so the row-by-row search runs once for all of them."""
    if not masks:
        return []
    H = max(m.shape[0] for m in masks)
    reach = [max(2, round(BAND * line)) for line in lines]
    R = max(reach)
    offsets = np.arange(-R, R + 1)
    costs, owners, starts = [], [], []
    for i, (m, line) in enumerate(zip(masks, lines)):
        h, w = m.shape
        share = np.cumsum(m.sum(axis=0)) / max(m.sum(), 1)
        lo, hi = int(np.searchsorted(share, MIN_SHARE)) + 1, int(np.searchsorted(share, 1 - MIN_SHARE)) + 1
        centres = np.arange(lo, hi, max(1, round(STEP * line)))
        if not len(centres):
            continue
        columns = centres[:, None] + offsets[None, :]  # (k, 2R + 1)
        padded = np.zeros((H, w + 2 * R + 2), np.float32)
        padded[H - h:, R + 1: R + 1 + w] = m
        band = padded[:, columns + R + 1].transpose(1, 0, 2)  # (k, H, 2R + 1): cost = ink crossed
        band[:, :, (np.abs(offsets) > reach[i])] = np.inf
        band[np.broadcast_to(((columns < 1) | (columns > w - 1))[:, None, :], band.shape)] = np.inf  # inside
        costs.append(band)
        owners += [i] * len(centres)
        starts.append(columns[:, 0])
    if not costs:
        return [[] for _ in masks]
    cost = np.concatenate(costs)
    n, B = len(cost), 2 * R + 1
    total, moves = cost[:, 0].copy(), np.zeros((n, H, B), np.int8)
    wall = np.full((n, 1), np.inf, np.float32)
    for y in range(1, H):
        from_left = np.concatenate([wall, total[:, :-1]], axis=1) + DIAGONAL
        from_right = np.concatenate([total[:, 1:], wall], axis=1) + DIAGONAL
        best = np.minimum(total, np.minimum(from_left, from_right))
        moves[:, y] = np.where(best == total, 0, np.where(best == from_left, -1, 1))
        total = best + cost[:, y]
    end = total.argmin(axis=1)
    spent = total[np.arange(n), end]
    steps = np.empty((n, H), np.int64)
    steps[:, H - 1] = end
    for y in range(H - 1, 0, -1):
        steps[:, y - 1] = steps[:, y] + moves[np.arange(n), y, steps[:, y]]
    paths = steps + np.concatenate(starts)[:, None]
    owners_array = np.array(owners)
    return [chosen_paths(spent[owners_array == i], paths[owners_array == i, H - m.shape[0]:], m, line)
            for i, (m, line) in enumerate(zip(masks, lines))]


def chosen_paths(spent: np.ndarray, paths: np.ndarray, mask: np.ndarray, line: float) -> list[np.ndarray]:
    """The cheapest of a mask's (h, w) paths (k, h) given their costs (k,): finite, MIN_SHARE of the
    ink on each side, apart from each other by APART x the digit height on average; at most MAX_CUTS."""
    ink = float(mask.sum())
    apart = max(1.5, APART * line)
    left = (np.arange(mask.shape[1])[None, None, :] < paths[:, :, None]) & mask[None]
    left = left.sum(axis=(1, 2))
    chosen: list[np.ndarray] = []
    for k in np.argsort(spent, kind="stable").tolist():
        if not np.isfinite(spent[k]) or min(left[k], ink - left[k]) < MIN_SHARE * ink:
            continue
        if all(np.abs(paths[k] - other).mean() >= apart for other in chosen):
            chosen.append(paths[k])
            if len(chosen) == MAX_CUTS:
                break
    return chosen


def cut_parts(glyph: Glyph, paths: list[np.ndarray]) -> list[Glyph] | None:
    """The glyph cut along paths (left to right, each (h,) the first column right of the cut) into
    parts, each trimmed to its ink; None if a part would be empty."""
    columns = np.arange(glyph.ink.shape[1])
    x0, _, y0, _ = glyph.box
    parts, done = [], np.zeros(glyph.ink.shape, bool)
    for path in [*paths, None]:
        side = ~done if path is None else (columns[None, :] < path[:, None]) & ~done
        part = trimmed(np.where(side, glyph.ink, np.float32(0)), x0, y0)
        if part is None:
            return None
        part.line = glyph.line
        parts.append(part)
        done |= side
    return parts
