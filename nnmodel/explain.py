"""Looking inside the network for one image: why it answered what it did.

Pixels are the MNIST form: 784 values (or 28x28) in [0, 1], digit light on dark (uint8 0..255 is
scaled). A fitted network has `params_` [(W1 (H, 784), b1 (H,)), (W2, b2), ...]; its "units" here are
the H neurons of the first hidden layer. A digit's "score" is its logit: the output layer's value
before softmax (or sigmoid), so the answer is the digit with the highest score.

Also the drawing bits the report pictures share (`diverging_rgb`, `label_font`).
"""
from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from nnmodel.model.dense import activate, activation_slope, forward

SIDE = 28                   # MNIST images are SIDE x SIDE pixels
FOR = (202, 0, 32)          # red: evidence for the answer, positive weights
AGAINST = (5, 113, 176)     # blue: evidence against it, negative weights (red/blue stay apart for colour-blind eyes)


@dataclass
class Explanation:
    """Why the network answered `digit` for `pixels` (28, 28) in [0, 1].

    proba (10,) the probabilities; logit the answer's score; attribution (28, 28) each pixel's push
    on that score (gradient x input); top_units [(unit index, contribution to the score)], largest |.| first.
    """

    digit: int
    proba: np.ndarray
    logit: float
    attribution: np.ndarray
    top_units: list[tuple[int, float]]
    pixels: np.ndarray


def as_pixels(pixels) -> np.ndarray:
    """(784,) float64 in [0, 1] from 784 values or a 28x28 array (uint8 is divided by 255)."""
    array = np.asarray(pixels)
    scale = 255.0 if array.dtype == np.uint8 else 1.0
    return array.astype(np.float64).reshape(SIDE * SIDE) / scale


def hidden_unit_importance(net, X=None) -> np.ndarray:
    """How much each first-layer unit matters to what follows: (H,) >= 0, for ordering pictures.

    The norm of the unit's outgoing weights; with a sample X (m, 784) in [0, 1], times the spread
    (standard deviation) of its activation over X, because a unit that is always equally on only
    shifts every score by the same amount, like a bias, and so tells the digits apart no better.
    """
    importance = np.linalg.norm(np.asarray(net.params_[1][0], dtype=np.float64), axis=0)
    if X is not None:
        W1, b1 = net.params_[0]
        X = np.asarray(X, dtype=np.float64).reshape(-1, W1.shape[1])
        importance *= activate(X @ W1.T + b1, net.activation).std(axis=0)
    return importance


def weight_images(net) -> np.ndarray:
    """First-layer input weights as images (H, 28, 28): "what each hidden unit looks for".
    Positive weight: ink there raises the unit's activation; negative: ink there lowers it."""
    W1 = np.asarray(net.params_[0][0], dtype=np.float64)
    if W1.shape[1] != SIDE * SIDE:
        raise ValueError(f"weight images need {SIDE * SIDE} inputs, this network has {W1.shape[1]}")
    return W1.reshape(-1, SIDE, SIDE)


def answer(net, x: np.ndarray) -> tuple[int, np.ndarray]:
    """The network's digit and probabilities (10,) for one image x (784,): `predict_proba`'s answer,
    so the explained digit is always the one every other part of the project reports."""
    proba = net.predict_proba(x[None, :])[0]
    return int(proba.argmax()), proba


def score_gradients(net, x: np.ndarray, digit: int) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Activations [x, a1, ..., logits] and the exact gradients of `digit`'s logit with respect to
    each of [x, a1, ..., a_last_hidden] (one backward pass, float64)."""
    acts = [a[0] for a in forward(net.params_, x[None, :], net.activation)]
    gradient = np.asarray(net.params_[-1][0][digit], dtype=np.float64)
    gradients = [gradient]
    for layer in range(len(net.params_) - 1, 0, -1):
        gradient = (gradient * activation_slope(acts[layer], net.activation)) @ net.params_[layer - 1][0]
        gradients.insert(0, gradient)
    return acts, gradients


def attribution(net, pixels, digit: int | None = None) -> np.ndarray:
    """Each pixel's contribution to `digit`'s score (default: the answer's), (28, 28): gradient x input.

    Why not occlusion (grey out patches, watch the score): that needs hundreds of forward passes and
    depends on patch size and fill; the gradient is exact, from one backward pass (about 0.15 ms for
    784-100-10). Ink-free pixels (0) get exactly 0, so the map only ever points at ink.
    What holds: pixel i's value is x_i * d score / d x_i, and the values sum to d/dt score(t * pixels)
    at t = 1, the score's rate of change as all the ink grows together. That equals the score's change
    from a black image, score(pixels) - score(0), exactly for a linear model or a ReLU network without
    biases, not for saturating sigmoid units: on a 784-64-10 sigmoid model the sum was a median 1/8 of
    that change (5%-95%: -0.04 to 0.34). So read the map for where and which way, not for how much.
    """
    x = as_pixels(pixels)
    if digit is None:
        digit, _ = answer(net, x)
    _, gradients = score_gradients(net, x, digit)
    return (gradients[0] * x).reshape(SIDE, SIDE)


def unit_contributions(net, pixels, digit: int | None = None) -> np.ndarray:
    """Each first-layer unit's contribution to `digit`'s score (default: the answer's), (H,).

    One hidden layer: activation x outgoing weight, exact: they sum, plus the output bias, to the score.
    Deeper networks: gradient x activation of the first hidden layer (a first-order estimate).
    """
    x = as_pixels(pixels)
    if digit is None:
        digit, _ = answer(net, x)
    acts, gradients = score_gradients(net, x, digit)
    return gradients[1] * acts[1]


def explain(net, pixels, top: int = 6) -> Explanation:
    """Everything a picture of one answer needs: digit, probabilities, score, pixel map, top units."""
    x = as_pixels(pixels)
    digit, proba = answer(net, x)
    acts, gradients = score_gradients(net, x, digit)
    contributions = gradients[1] * acts[1]
    units = np.argsort(-np.abs(contributions), kind="stable")[:top]
    return Explanation(digit, np.asarray(proba, dtype=np.float64), float(acts[-1][digit]),
                       (gradients[0] * x).reshape(SIDE, SIDE),
                       [(int(u), float(contributions[u])) for u in units], x.reshape(SIDE, SIDE))


# ------------------------------------------------------------------ drawing


@functools.lru_cache(maxsize=8)
def label_font(size: int = 14) -> ImageFont.ImageFont:
    """Pillow's own scalable font at `size` px (no font files needed); the small bitmap font when
    this Pillow lacks FreeType."""
    try:
        return ImageFont.load_default(size=size)
    except (TypeError, ImportError, OSError):
        return ImageFont.load_default()


def diverging_rgb(values: np.ndarray, limit: float, base: np.ndarray | float = 255.0) -> np.ndarray:
    """uint8 colours (..., 3): `base` (grey levels, same shape as values, or one level) tinted towards
    red for positive values and blue for negative ones, fully at |value| >= limit."""
    values = np.asarray(values, dtype=np.float64)
    strength = np.clip(np.abs(values) / limit, 0, 1)[..., None] if limit > 0 else np.zeros(values.shape + (1,))
    colour = np.where(values[..., None] >= 0, np.array(FOR, dtype=np.float64), np.array(AGAINST, dtype=np.float64))
    grey = np.broadcast_to(np.asarray(base, dtype=np.float64), values.shape)[..., None]
    return (grey * (1 - strength) + colour * strength).astype(np.uint8)


def weight_tile(weights: np.ndarray, scale: int) -> Image.Image:
    """One unit's weights (28, 28) as a diverging image scaled to its own max |w|, enlarged `scale` times."""
    rgb = diverging_rgb(weights, float(np.abs(weights).max()))
    return Image.fromarray(rgb, "RGB").resize((SIDE * scale, SIDE * scale), Image.NEAREST)


def overlay(pixels, attribution_map: np.ndarray, scale: int = 8) -> Image.Image:
    """The attribution (28, 28) over the faint input, enlarged to (28 * scale) px square (RGB).

    Ink shows as light grey on white so the colours stay readable: red pixels push towards the
    answer, blue ones away, both scaled to the map's largest |value|. Fast enough for a live panel
    (about 0.2 ms at scale 8: a NumPy blend, then one nearest-neighbour resize).
    """
    ink = as_pixels(pixels).reshape(SIDE, SIDE)
    attribution_map = np.asarray(attribution_map, dtype=np.float64)
    rgb = diverging_rgb(attribution_map, float(np.abs(attribution_map).max()), base=255.0 - 90.0 * ink)
    return Image.fromarray(rgb, "RGB").resize((SIDE * scale, SIDE * scale), Image.NEAREST)


def explanation_picture(explanation: Explanation, net) -> Image.Image:
    """One picture of one answer (about 780x470 RGB): the input as the network sees it, the ten
    probabilities as bars, the pixels for and against the answer, and the hidden units that
    mattered most with what each looks for and how much it added to the answer's score."""
    e, scale, pad = explanation, 7, 18
    side = SIDE * scale
    image = Image.new("RGB", (780, 470), "white")
    draw = ImageDraw.Draw(image)
    draw.text((pad, 10), f"The network reads {e.digit} ({percent(e.proba[e.digit])} sure)", fill="black",
              font=label_font(20))

    top = 66
    draw.text((pad, top - 22), "What the network sees", fill="black", font=label_font(14))
    seen = Image.fromarray((e.pixels * 255).round().astype(np.uint8), "L").convert("RGB")
    image.paste(seen.resize((side, side), Image.NEAREST), (pad, top))

    bars_left = pad + side + 34
    draw.text((bars_left, top - 22), "Probability of each digit", fill="black", font=label_font(14))
    draw_probability_bars(draw, e.proba, e.digit, (bars_left, top, bars_left + 260, top + side))

    map_left = bars_left + 260 + 34
    draw.text((map_left, top - 22), f"Pixels for / against {e.digit}", fill="black", font=label_font(14))
    image.paste(overlay(e.pixels, e.attribution, scale), (map_left, top))
    draw_key(draw, (map_left, top + side + 6), [(FOR, f"ink here raises {e.digit}'s score"),
                                                (AGAINST, "ink here lowers it")])

    units_top = top + side + 56
    draw.text((pad, units_top - 22), f"Hidden units that moved {e.digit}'s score ({e.logit:+.2f}) the most: "
              "what each looks for, and what it added", fill="black", font=label_font(14))
    images = weight_images(net)
    for k, (unit, contribution) in enumerate(e.top_units):
        left = pad + k * 124
        image.paste(weight_tile(images[unit], 3), (left, units_top))
        draw.text((left, units_top + SIDE * 3 + 4), f"unit {unit}", fill="black", font=label_font(13))
        draw.text((left, units_top + SIDE * 3 + 20), f"{contribution:+.2f}", font=label_font(13),
                  fill=FOR if contribution >= 0 else AGAINST)
    draw.text((pad, units_top + SIDE * 3 + 42), "In a unit's picture, red: ink there turns the unit on; "
              "blue: ink there turns it off.", fill=(90, 90, 90), font=label_font(12))
    return image


def draw_probability_bars(draw: ImageDraw.ImageDraw, proba: np.ndarray, digit: int, box: tuple) -> None:
    """Ten horizontal bars in box (left, top, right, bottom): digit label, bar, percentage; the answer dark."""
    left, top, right, bottom = box
    row = (bottom - top) / len(proba)
    bar_left, bar_right = left + 20, right - 56
    for d, p in enumerate(proba):
        y = top + d * row
        colour = (40, 40, 40) if d == digit else (150, 150, 150)
        text_at_middle(draw, (left + 2, y + row / 2), str(d), label_font(14))
        draw.rectangle((bar_left, y + 3, bar_right, y + row - 3), outline=(220, 220, 220))
        width = round(float(p) * (bar_right - bar_left))
        if width > 0:
            draw.rectangle((bar_left, y + 3, bar_left + width, y + row - 3), fill=colour)
        text_at_middle(draw, (bar_right + 6, y + row / 2), percent(p), label_font(12))


def percent(p: float) -> str:
    """A probability as a percentage that never rounds a near-certainty up to 100% or a chance down to 0%."""
    p = float(p)
    if 0.999 < p < 1:
        return ">99.9%"
    if 0 < p < 0.001:
        return "<0.1%"
    return f"{p:.1%}"


def text_at_middle(draw: ImageDraw.ImageDraw, at: tuple[float, float], text: str, font, fill="black") -> None:
    """Text starting at x, centred vertically on y (measured, since bitmap fonts take no anchors)."""
    _, top, _, bottom = draw.textbbox((0, 0), text, font=font)
    draw.text((at[0], at[1] - (top + bottom) / 2), text, fill=fill, font=font)


def draw_key(draw: ImageDraw.ImageDraw, at: tuple[int, int], entries: list[tuple[tuple, str]]) -> None:
    """A colour key: one small swatch and its meaning per line, from `at` downwards."""
    x, y = at
    for colour, text in entries:
        draw.rectangle((x, y + 2, x + 10, y + 12), fill=colour)
        draw.text((x + 16, y), text, fill="black", font=label_font(12))
        y += 16
