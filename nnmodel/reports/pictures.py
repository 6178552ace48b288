"""Pictures and numbers that look inside a trained network, for training reports.

weight_grid          every first-layer unit's input weights, most important first
training_curves      cost per L-BFGS-B iteration and validation accuracy, with the kept iteration marked
calibration          does "90% sure" mean right 9 times in 10? per confidence bin, and the ECE
reliability_diagram  the calibration as bars against the diagonal
threshold_table      what `digits predict --min-confidence` would flag at each threshold
look_inside_markdown a report section with the table and links to the pictures

Numbers come back as plain floats and ints (None where undefined), ready for JSON.
"""
from __future__ import annotations

import math

import numpy as np
from PIL import Image, ImageDraw

from nnmodel.explain import FOR, SIDE, hidden_unit_importance, label_font, weight_images, weight_tile

GRID, AXIS, LOSS_LINE, ACCURACY_LINE, KEPT = (230, 230, 230), (60, 60, 60), (31, 119, 180), (44, 140, 60), FOR


# ------------------------------------------------------------------ weights


def weight_grid(net, order=None, columns: int = 20, scale: int = 2, labels: str | None = "rank") -> Image.Image:
    """Every first-layer unit's input weights as a (28 * scale) px tile, red positive, blue negative,
    each tile scaled to its own max |w| (so weak units still show their pattern).

    order: unit indices to show, in order (default: all, by `hidden_unit_importance`, most important
    first). labels: "rank" (1, 2, ...), "unit" (the unit's index, as in the explanation picture) or None.
    Size: columns * (28 * scale + 4) wide, rows * (28 * scale + 4 + label height) high.
    """
    images = weight_images(net)
    if order is None:
        order = np.argsort(-hidden_unit_importance(net), kind="stable")
    order = [int(u) for u in order]
    tile, gap = SIDE * scale, 4
    label_height = 13 if labels else 0
    columns = max(1, min(columns, len(order)))
    rows = -(-len(order) // columns)
    grid = Image.new("RGB", (columns * (tile + gap), rows * (tile + gap + label_height)), "white")
    draw = ImageDraw.Draw(grid)
    for rank, unit in enumerate(order):
        left = (rank % columns) * (tile + gap) + gap // 2
        top = (rank // columns) * (tile + gap + label_height) + label_height
        if labels:
            draw.text((left, top - label_height), str(rank + 1 if labels == "rank" else unit), fill=(90, 90, 90),
                      font=label_font(10))
        grid.paste(weight_tile(images[unit], scale), (left, top))
        # a hairline frame: a tile's zero weights are white, like the page
        draw.rectangle((left - 1, top - 1, left + tile, top + tile), outline=GRID)
    return grid


# ------------------------------------------------------------------ training curves


def nice_ticks(low: float, high: float, count: int = 5) -> list[float]:
    """About `count` round tick values (steps of 1, 2 or 5 times a power of ten) within [low, high]."""
    if not high > low:
        return [low]
    rough = (high - low) / count
    power = 10.0 ** math.floor(math.log10(rough))
    step = next(m * power for m in (1, 2, 5, 10) if m * power >= rough)
    first = math.ceil(low / step - 1e-9) * step
    return [round(first + k * step, 12) for k in range(int((high - first) / step + 1e-9) + 1)]


def tick_text(value: float, step: float, percent: bool = False) -> str:
    """A tick label with as many decimals as the step needs."""
    if percent:
        value, step = value * 100, step * 100
    decimals = max(0, -math.floor(math.log10(step) + 1e-9)) if step > 0 else 0
    return f"{value:.{decimals}f}{'%' if percent else ''}"


def tick_step(ticks: list[float]) -> float:
    return ticks[1] - ticks[0] if len(ticks) > 1 else 1.0


class Panel:
    """A plot area in an image: maps data (x, y) to pixels and draws axes with ticks and a title."""

    def __init__(self, draw: ImageDraw.ImageDraw, box: tuple[int, int, int, int], x_range, y_range):
        self.draw, self.box = draw, box
        self.x_range, self.y_range = x_range, y_range

    def point(self, x: float, y: float) -> tuple[float, float]:
        left, top, right, bottom = self.box
        (x0, x1), (y0, y1) = self.x_range, self.y_range
        return (left + (x - x0) / ((x1 - x0) or 1) * (right - left),
                bottom - (y - y0) / ((y1 - y0) or 1) * (bottom - top))

    def axes(self, title: str, x_label: str, x_percent: bool = False, y_percent: bool = False,
             x_whole: bool = False) -> None:
        """Frame, grid lines and tick labels (percentages, or only whole numbers for counts like iterations)."""
        left, top, right, bottom = self.box
        draw, font = self.draw, label_font(12)
        y_ticks = nice_ticks(*self.y_range)
        for y in y_ticks:
            py = self.point(self.x_range[0], y)[1]
            draw.line((left, py, right, py), fill=GRID)
            text = tick_text(y, tick_step(y_ticks), y_percent)
            width = draw.textlength(text, font=font)
            draw.text((left - 6 - width, py - 7), text, fill=AXIS, font=font)
        x_ticks = [x for x in nice_ticks(*self.x_range, count=8) if not x_whole or x == int(x)]
        for x in x_ticks:
            px = self.point(x, self.y_range[0])[0]
            draw.line((px, bottom, px, bottom + 4), fill=AXIS)
            text = tick_text(x, 1 if x_whole else tick_step(x_ticks), x_percent)
            draw.text((px - draw.textlength(text, font=font) / 2, bottom + 6), text, fill=AXIS, font=font)
        draw.line((left, top, left, bottom), fill=AXIS)
        draw.line((left, bottom, right, bottom), fill=AXIS)
        draw.text((left, top - 22), title, fill="black", font=label_font(14))
        if x_label:
            draw.text((right - draw.textlength(x_label, font=font), bottom + 22), x_label, fill=AXIS, font=font)

    def line(self, xs, ys, colour, width: int = 2) -> None:
        points = [self.point(x, y) for x, y in zip(xs, ys)]
        if len(points) > 1:
            self.draw.line(points, fill=colour, width=width, joint="curve")

    def dots(self, xs, ys, colour, radius: int = 3) -> None:
        for x, y in zip(xs, ys):
            px, py = self.point(x, y)
            self.draw.ellipse((px - radius, py - radius, px + radius, py + radius), fill=colour)

    def dashed_vertical(self, x: float, colour) -> None:
        px = self.point(x, self.y_range[0])[0]
        _, top, _, bottom = self.box
        for y in range(top, bottom, 8):
            self.draw.line((px, y, px, min(y + 4, bottom)), fill=colour, width=2)


def padded(low: float, high: float, share: float = 0.05) -> tuple[float, float]:
    """[low, high] widened by `share` of its span on each side (or by 1% of |value| when flat), so
    curves do not run along the frame."""
    span = (high - low) or abs(high) * 0.02 or 1.0
    return low - share * span, high + share * span


def training_curves(history: list[dict], stopped_at: int | None = None) -> Image.Image:
    """Two panels (760x560 RGB): the cost per L-BFGS-B iteration, and the validation accuracy at the
    iterations where it was measured; a dashed line marks `stopped_at`, the iteration whose parameters
    were kept (None: the last; after early stopping, the best validation check). Needs history entries
    with "iteration" and "loss"; "val_accuracy" where measured (none: that panel says so)."""
    image = Image.new("RGB", (760, 560), "white")
    draw = ImageDraw.Draw(image)
    if not history:
        draw.text((20, 20), "No training history recorded.", fill="black", font=label_font(14))
        return image
    iterations = [h["iteration"] for h in history]
    losses = [h["loss"] for h in history]
    checks = [h for h in history if h.get("val_accuracy") is not None]
    stopped_at = iterations[-1] if stopped_at is None else stopped_at
    x_range = (min(0, iterations[0]), max(iterations[-1], stopped_at))

    cost = Panel(draw, (80, 40, 730, 240), x_range, padded(min(losses), max(losses)))
    cost.axes("Cost on the training images, per iteration", "", x_whole=True)
    cost.line(iterations, losses, LOSS_LINE)
    cost.dashed_vertical(stopped_at, KEPT)
    kept = [h["loss"] for h in history if h["iteration"] == stopped_at]
    if kept:
        cost.dots([stopped_at], kept, KEPT, radius=4)
    label, x = f"kept: iteration {stopped_at}", cost.point(stopped_at, 0)[0]
    # the label sits on the side of the line with room: left of it when the line is in the right half
    width = draw.textlength(label, font=label_font(12))
    draw.text((x - width - 6 if stopped_at > sum(x_range) / 2 else x + 6, 42), label, fill=KEPT,
              font=label_font(12))

    accuracies = [h["val_accuracy"] for h in checks]
    y_range = padded(min(accuracies), max(accuracies)) if checks else (0.0, 1.0)
    accuracy = Panel(draw, (80, 310, 730, 510), x_range, (max(0.0, y_range[0]), min(1.0, y_range[1])))
    every = f" (every {checks[1]['iteration'] - checks[0]['iteration']} iterations)" if len(checks) > 1 else ""
    accuracy.axes(f"Accuracy on the validation images{every}", "L-BFGS-B iteration", y_percent=True, x_whole=True)
    accuracy.dashed_vertical(stopped_at, KEPT)
    if checks:
        accuracy.line([h["iteration"] for h in checks], accuracies, ACCURACY_LINE)
        accuracy.dots([h["iteration"] for h in checks], accuracies, ACCURACY_LINE)
    else:
        draw.text((100, 400), "No validation checks were recorded.", fill=AXIS, font=label_font(14))
    return image


# ------------------------------------------------------------------ calibration


def confidences(proba: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each answer's confidence (its top probability) (n,) and whether it was right (n,) bool."""
    proba = np.asarray(proba)
    return proba.max(axis=1), proba.argmax(axis=1) == np.asarray(labels)


def calibration(proba: np.ndarray, labels: np.ndarray, bins: int = 10) -> dict:
    """How far confidence matches accuracy, from probabilities (n, 10) and true labels (n,).

    Answers are put in `bins` equal confidence bins over [0, 1]; each bin has low, high, count,
    confidence (mean top probability) and accuracy (None when empty). ece: the expected calibration
    error, sum over bins of count / n * |accuracy - confidence| (0 = "90% sure" is right 90% of the time).
    """
    confidence, right = confidences(proba, labels)
    n = len(confidence)
    which = np.minimum((confidence * bins).astype(int), bins - 1)
    rows, ece = [], 0.0
    for b in range(bins):
        inside = which == b
        count = int(inside.sum())
        mean_confidence = float(confidence[inside].mean()) if count else None
        accuracy = float(right[inside].mean()) if count else None
        if count:
            ece += count / n * abs(accuracy - mean_confidence)
        rows.append({"low": b / bins, "high": (b + 1) / bins, "count": count, "confidence": mean_confidence,
                     "accuracy": accuracy})
    return {"n": n, "accuracy": float(right.mean()) if n else None,
            "confidence": float(confidence.mean()) if n else None, "ece": float(ece), "bins": rows}


def reliability_diagram(calib: dict) -> Image.Image:
    """Accuracy per confidence bin as bars against the diagonal of perfect calibration (520x500 RGB);
    the gap between each bar and its mean confidence shaded red, its count above it, the ECE in the title."""
    image = Image.new("RGB", (520, 500), "white")
    draw = ImageDraw.Draw(image)
    panel = Panel(draw, (80, 60, 480, 440), (0.0, 1.0), (0.0, 1.0))
    panel.axes("", "confidence (top probability)", x_percent=True, y_percent=True)
    draw.text((80, 12), f"Reliability: ECE {calib['ece']:.2%} on {calib['n']:,} images", fill="black",
              font=label_font(16))
    draw.text((20, 40), "accuracy", fill=AXIS, font=label_font(12))
    shade = Image.new("RGBA", image.size, (0, 0, 0, 0))
    shading = ImageDraw.Draw(shade)
    for row in calib["bins"]:
        if not row["count"]:
            continue
        left, bottom = panel.point(row["low"], 0)
        right, top = panel.point(row["high"], row["accuracy"])
        draw.rectangle((left + 1, top, right - 1, bottom), fill=(120, 160, 200), outline=(70, 110, 160))
        expected = panel.point(row["high"], row["confidence"])[1]
        shading.rectangle((left + 1, min(top, expected), right - 1, max(top, expected)), fill=(*FOR, 90))
        text = f"{row['count']:,}"
        width = draw.textlength(text, font=label_font(10))
        draw.text(((left + right - width) / 2, min(top, expected) - 13), text, fill=AXIS, font=label_font(10))
    image = Image.alpha_composite(image.convert("RGBA"), shade).convert("RGB")
    draw = ImageDraw.Draw(image)
    corner0, corner1 = panel.point(0, 0), panel.point(1, 1)
    for t in np.arange(0, 1, 0.02):  # dashed diagonal
        a, b = t, min(t + 0.01, 1.0)
        draw.line((corner0[0] + a * (corner1[0] - corner0[0]), corner0[1] + a * (corner1[1] - corner0[1]),
                   corner0[0] + b * (corner1[0] - corner0[0]), corner0[1] + b * (corner1[1] - corner0[1])),
                  fill=AXIS, width=1)
    draw.text((90, 70), "dashed: perfect calibration", fill=AXIS, font=label_font(12))
    draw.rectangle((90, 88, 100, 98), fill=(120, 160, 200))
    draw.text((106, 86), "accuracy of the answers in the bin", fill=AXIS, font=label_font(12))
    draw.rectangle((90, 104, 100, 114), fill=(235, 160, 170))
    draw.text((106, 102), "gap to their mean confidence", fill=AXIS, font=label_font(12))
    return image


# ------------------------------------------------------------------ flagging unsure answers


THRESHOLDS = (0.5, 0.7, 0.8, 0.9, 0.95, 0.99)


def threshold_table(proba: np.ndarray, labels: np.ndarray, thresholds=THRESHOLDS) -> list[dict]:
    """What `digits predict --min-confidence T` would flag (top probability below T), per threshold:

    flagged          share of all images flagged            errors_caught  share of the wrong answers flagged
    right_flagged    share of the right answers flagged (the cost: good answers sent for checking)
    kept_accuracy    accuracy of the answers not flagged    (shares are None when nothing to divide by)
    """
    confidence, right = confidences(proba, labels)
    rows = []
    for threshold in thresholds:
        flagged = confidence < threshold
        rows.append({"threshold": float(threshold), "flagged": share(flagged), "flagged_count": int(flagged.sum()),
                     "errors_caught": share(flagged[~right]), "right_flagged": share(flagged[right]),
                     "kept_accuracy": share(right[~flagged]), "kept_count": int((~flagged).sum())})
    return rows


def share(mask: np.ndarray) -> float | None:
    """The share of True in a boolean array; None for an empty one."""
    return float(mask.mean()) if mask.size else None


# ------------------------------------------------------------------ report section


def look_inside_markdown(calib: dict, table: list[dict], weights: str | None = "weights.png",
                         curves: str | None = "curves.png", reliability: str | None = "reliability.png") -> str:
    """A Markdown section for a report: the pictures (by file name; None leaves one out), the
    calibration in words and the threshold table."""
    lines = ["## Inside the network", ""]
    if weights:
        lines += [f"![What each hidden unit looks for]({weights})", "",
                  "Each tile is one hidden unit's input weights, most important unit first: red where ink "
                  "turns the unit on, blue where ink turns it off.", ""]
    if curves:
        lines += [f"![Training curves]({curves})", "",
                  "The cost on the training images at each L-BFGS-B iteration and the validation accuracy "
                  "where it was measured; the dashed line marks the iteration whose parameters were kept.", ""]
    lines += ["## How far to trust the confidence", ""]
    if reliability:
        lines += [f"![Reliability diagram]({reliability})", ""]
    lines += [f"Expected calibration error (ECE): **{calib['ece']:.2%}** on {calib['n']:,} images (mean "
              f"confidence {percent_or_na(calib['confidence'])}, accuracy {percent_or_na(calib['accuracy'])}).",
              "", "Flagging answers below a confidence threshold (`digits predict --min-confidence`):", "",
              "| threshold | flagged | errors caught | right answers flagged | accuracy of the rest |",
              "|---|---|---|---|---|"]
    lines += [f"| {r['threshold']:g} | {percent_or_na(r['flagged'])} | {percent_or_na(r['errors_caught'])} | "
              f"{percent_or_na(r['right_flagged'])} | {percent_or_na(r['kept_accuracy'])} |" for r in table]
    return "\n".join(lines) + "\n"


def percent_or_na(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.2%}"

