"""The pictures of a report (PNG, drawn with Pillow):

weight_grid          what each unit looks for (its input weights), in a given order
weight_figure        the grid under a title and a colour key (the report's weights.png)
training_curves      cost per L-BFGS-B iteration and validation accuracy, with the kept iteration marked
reliability_diagram  the calibration as bars against the diagonal
confusion_png        the confusion matrix as a heat map with counts
mistakes_png         a montage of misclassified digits
"""
from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw

from nnmodel.model.base import Units
from nnmodel.reports.drawing import (
    ACCURACY_LINE,
    AGAINST,
    AXIS,
    FOR,
    GRID,
    KEPT,
    LOSS_LINE,
    SIDE,
    Panel,
    draw_key,
    label_font,
    padded,
    text_at_middle,
    tile_scale,
    weight_tile,
)


def weight_grid(units: Units, order=None, columns: int = 20, scale: int = 2,
                labels: str | None = "rank") -> Image.Image:
    """What each unit looks for: its picture (input weights) as a tile of about (28 * scale) px, red
    positive, blue negative, each scaled to its own max |w| (so weak units still show their pattern).

    order: unit indices to show, in order (default: all, as they come; reports pass the model's
    `unit_importance` order, most important first). labels: "rank" (1, 2, ...), "unit" (the unit's
    index, as in the explanation picture) or None. The title above the grid names the units.
    """
    pictures = units.pictures
    if order is None:
        order = range(len(pictures))
    order = [int(u) for u in order]
    enlarge = tile_scale(pictures.shape, SIDE * scale)
    tile_h, tile_w = pictures.shape[1] * enlarge, pictures.shape[2] * enlarge
    gap, header = 4, 0
    label_height = 13 if labels else 0
    columns = max(1, min(columns, len(order)))
    rows = -(-len(order) // columns)
    grid = Image.new("RGB", (columns * (tile_w + gap), header + rows * (tile_h + gap + label_height)), "white")
    draw = ImageDraw.Draw(grid)
    for rank, unit in enumerate(order):
        left = (rank % columns) * (tile_w + gap) + gap // 2
        top = header + (rank // columns) * (tile_h + gap + label_height) + label_height
        if labels:
            draw.text((left, top - label_height), str(rank + 1 if labels == "rank" else unit), fill=(90, 90, 90),
                      font=label_font(10))
        grid.paste(weight_tile(pictures[unit], enlarge), (left, top))
        # a hairline frame: a tile's zero weights are white, like the page
        draw.rectangle((left - 1, top - 1, left + tile_w, top + tile_h), outline=GRID)
    return grid


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


def confusion_png(cm, title: str = "Confusion matrix") -> Image.Image:
    """A heat map of the confusion matrix (k x k counts; rows: the true digit, columns: the one
    read) with its counts, cells of 44 px, under a title, the axes named: blue on the diagonal (read
    right, by share of the row), red off it (read wrong)."""
    cm = np.asarray(cm)
    k, cell = len(cm), 44
    left, top = 70, 78
    image = Image.new("RGB", (left + k * cell + 20, top + k * cell + 16), "white")
    draw = ImageDraw.Draw(image)
    draw.text((10, 8), title, fill="black", font=label_font(16))
    axis = "predicted digit (what the model read)"
    draw.text((left + (k * cell - draw.textlength(axis, font=label_font(13))) / 2, 34), axis, fill=AXIS,
              font=label_font(13))
    image.paste(vertical_text("true digit", label_font(13), AXIS), (8, top + k * cell // 2 - 40))
    row_share = cm / np.maximum(cm.sum(axis=1, keepdims=True), 1)
    for t in range(k):
        text_at_middle(draw, (left - 18, top + t * cell + cell / 2), str(t), label_font(13))
        draw.text((left + t * cell + cell // 2 - 4, top - 20), str(t), fill="black", font=label_font(13))
        for p in range(k):
            share = row_share[t, p]
            shade = (int(255 * (1 - share)), int(255 * (1 - 0.6 * share)), 255) if t == p else \
                    (255, int(255 * (1 - min(1, 8 * share))), int(255 * (1 - min(1, 8 * share))))
            box = (left + p * cell, top + t * cell, left + (p + 1) * cell, top + (t + 1) * cell)
            draw.rectangle(box, fill=shade, outline=(200, 200, 200))
            text = str(int(cm[t, p]))
            width = draw.textlength(text, font=label_font(12))
            text_at_middle(draw, (box[0] + (cell - width) / 2, box[1] + cell / 2), text, label_font(12),
                           fill="white" if t == p and share > 0.6 else "black")
    return image


def vertical_text(text: str, font, fill) -> Image.Image:
    """`text` written bottom to top (for a vertical axis), on white."""
    probe = ImageDraw.Draw(Image.new("RGB", (1, 1)))
    _, _, right, bottom = probe.textbbox((0, 0), text, font=font)
    strip = Image.new("RGB", (right + 2, bottom + 2), "white")
    ImageDraw.Draw(strip).text((0, 0), text, fill=fill, font=font)
    return strip.rotate(90, expand=True)


def weight_figure(units: Units, order=None, title: str | None = None) -> Image.Image:
    """`weight_grid` under a title (by default: what each of the units looks for, most important
    first) and a colour key: the report's weights.png."""
    grid = weight_grid(units, order)
    title = title or f"What each {units.name} looks for (its input weights), most important first"
    width = max(grid.width, 760)
    image = Image.new("RGB", (width, grid.height + 74), "white")
    draw = ImageDraw.Draw(image)
    draw.text((10, 8), title, fill="black", font=label_font(16))
    draw_key(draw, (10, 32), [(FOR, "red: ink there turns the unit on (positive weight)"),
                             (AGAINST, "blue: ink there turns it off (negative weight); white: no effect")])
    image.paste(grid, (0, 72))
    return image


def mistakes_png(images: np.ndarray, mistakes: list[dict], columns: int = 9, scale: int = 2) -> Image.Image:
    """A montage of misclassified digits (uint8 (n, 28, 28)), each captioned 'true>predicted'."""
    n = max(len(mistakes), 1)
    rows = -(-n // columns)
    tile_w, tile_h = 28 * scale + 24, 28 * scale + 20
    montage = Image.new("L", (columns * tile_w, rows * tile_h), 255)
    draw = ImageDraw.Draw(montage)
    for i, m in enumerate(mistakes):
        x, y = (i % columns) * tile_w + 12, (i // columns) * tile_h + 2
        digit = Image.fromarray(255 - images[m["index"]]).resize((28 * scale, 28 * scale), Image.NEAREST)
        montage.paste(digit, (x, y))
        draw.text((x, y + 28 * scale + 2), f"{m['true']} as {m['predicted']} {m['confidence']:.0%}", fill=0)
    return montage
