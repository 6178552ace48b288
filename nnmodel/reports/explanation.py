"""One picture of one answer (`digits explain`): the input as the model sees it, the ten probabilities,
the pixels for and against the answer, the units that moved its score most and the image as the
model's first stage sees it, as far as the model's family has those parts (`nnmodel.explain`); a part
it lacks is named, not left blank.
"""
from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw

from nnmodel.explain import Explanation
from nnmodel.reports.drawing import (
    AGAINST,
    FOR,
    SIDE,
    draw_key,
    draw_probability_bars,
    label_font,
    overlay,
    percent,
    tile_scale,
    weight_tile,
)

NOTE = (90, 90, 90)
UNIT_TILE = 84               # pixels: a unit's picture in the bottom row
MAP_TILE = 60                # pixels: one feature map


def explanation_picture(explanation: Explanation) -> Image.Image:
    """About 780x470 RGB (taller with feature maps): the input as the model sees it, the ten
    probabilities as bars, the pixels for and against the answer, the units that mattered most with
    what each looks for and how much it added to the answer's score, and the feature maps."""
    e, scale, pad = explanation, 7, 18
    side = SIDE * scale
    maps = e.feature_maps
    height = 470 + (0 if maps is None else 40 + -(-len(maps) // 10) * (MAP_TILE + 6))
    image = Image.new("RGB", (780, height), "white")
    draw = ImageDraw.Draw(image)
    headline = (f"Not a digit ({percent(e.not_a_digit)} likely); most like {e.digit}" if e.rejected
                else f"The model reads {e.digit} ({percent(e.proba[e.digit])} sure)")
    draw.text((pad, 10), headline, fill="black",
              font=label_font(20))

    top = 66
    draw.text((pad, top - 22), "What the model sees", fill="black", font=label_font(14))
    seen = Image.fromarray((e.pixels * 255).round().astype(np.uint8), "L").convert("RGB")
    image.paste(seen.resize((side, side), Image.NEAREST), (pad, top))

    bars_left = pad + side + 34
    draw.text((bars_left, top - 22), "Probability of each digit", fill="black", font=label_font(14))
    draw_probability_bars(draw, e.proba, e.digit, (bars_left, top, bars_left + 260, top + side))

    map_left = bars_left + 260 + 34
    draw.text((map_left, top - 22), f"Pixels for / against {e.digit}", fill="black", font=label_font(14))
    if e.attribution is None:
        draw.rectangle((map_left, top, map_left + side, top + side), outline=(220, 220, 220))
        draw.text((map_left + 10, top + side // 2 - 8), "this model gives no pixel map", fill=NOTE,
                  font=label_font(12))
    else:
        image.paste(overlay(e.pixels, e.attribution, scale), (map_left, top))
        draw_key(draw, (map_left, top + side + 6), [(FOR, f"ink here raises {e.digit}'s score"),
                                                    (AGAINST, "ink here lowers it")])

    units_top = top + side + 56
    draw_units(draw, image, e, (pad, units_top))
    if maps is not None:
        draw_feature_maps(draw, image, maps, (pad, 470 + 22))
    return image


def draw_units(draw: ImageDraw.ImageDraw, image: Image.Image, e: Explanation, at: tuple[int, int]) -> None:
    """The units that moved the answer's score most: what each looks for, and what it added."""
    left0, top = at
    if e.units is None or not e.top_units:
        draw.text((left0, top - 22), "This model has no units to show.", fill=NOTE, font=label_font(14))
        return
    score = f" ({e.score:+.2f})" if e.score is not None else ""
    plural = e.units.name + "s"
    draw.text((left0, top - 22), f"The {plural} that moved {e.digit}'s score{score} the most: "
              "what each looks for, and what it added", fill="black", font=label_font(14))
    enlarge = tile_scale(e.units.pictures.shape, UNIT_TILE)
    tile = e.units.pictures.shape[1] * enlarge
    for k, (unit, contribution) in enumerate(e.top_units):
        left = left0 + k * 124
        image.paste(weight_tile(e.units.pictures[unit], enlarge), (left, top))
        draw.text((left, top + tile + 4), f"{e.units.name.split()[-1]} {unit}", fill="black", font=label_font(13))
        draw.text((left, top + tile + 20), f"{contribution:+.2f}", font=label_font(13),
                  fill=FOR if contribution >= 0 else AGAINST)
    draw.text((left0, top + tile + 42), f"In a {e.units.name}'s picture, red: ink there turns it on; "
              "blue: ink there turns it off.", fill=NOTE, font=label_font(12))


def draw_feature_maps(draw: ImageDraw.ImageDraw, image: Image.Image, maps: np.ndarray, at: tuple[int, int]) -> None:
    """Each feature map (c, h, w) as a grey tile (white: strong response), ten to a row."""
    left0, top = at
    draw.text((left0, top - 20), "The image as the model's first stage sees it (one map per feature; "
              "white: strong response)", fill="black", font=label_font(14))
    peak = float(maps.max()) or 1.0
    for k, feature_map in enumerate(maps):
        grey = Image.fromarray(np.clip(255 * feature_map / peak, 0, 255).astype(np.uint8), "L")
        left, row = left0 + (k % 10) * (MAP_TILE + 6), top + (k // 10) * (MAP_TILE + 6)
        image.paste(grey.resize((MAP_TILE, MAP_TILE), Image.NEAREST).convert("RGB"), (left, row))
