"""Writing evaluation reports for people and machines: JSON, CSV, Markdown and two PNGs.

report.json       every number: accuracy per split, per-class precision/recall/F1, averages, confusion,
                  and the same for digits by other writers (optdigits, pen-drawn)
per_class.csv     one row per digit (test split)        confusion.csv   rows true, columns predicted
mistakes.csv      the worst test mistakes (most confident wrong answers)
labelled_mistakes.csv   with `digits evaluate --labelled DIR`: that folder's images read wrong, by file
report.md         a readable summary          confusion.png / mistakes.png   drawn with Pillow
"""
from __future__ import annotations

import csv
import io
import os
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from nnmodel.reports.pictures import look_inside_markdown
from nnmodel.store import atomic
from nnmodel.store.layout import read_record


def _csv_text(header, rows) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return out.getvalue()


def per_digit_rows(split: dict) -> list[dict]:
    """One row per digit of a split's report: precision, recall, F1 (4 decimals) and support."""
    return [{"digit": c["digit"], "precision": round(c["precision"], 4), "recall": round(c["recall"], 4),
             "f1": round(c["f1"], 4), "support": c["support"]} for c in split["per_class"]]


def markdown(report: dict, title: str) -> str:
    """A readable summary: accuracy per split, per-class table, confusion matrix, worst mistakes."""
    lines = [f"# {title}", "", "| split | accuracy | macro F1 | examples |", "|---|---|---|---|"]
    for name, r in report["splits"].items():
        lines.append(f"| {name} | {r['accuracy']:.2%} | {r['macro']['f1']:.4f} | {r['n']:,} |")
    lines += other_writers_markdown(report.get("others"))
    if "promotion" in report:
        p = report["promotion"]
        lines += ["", "## Promotion: challenger vs current model", "",
                  f"**Decision:** {'promoted' if p['promoted'] else 'not promoted'} ({p['reason']}).", "",
                  "| model | version | validation | test |", "|---|---|---|---|",
                  f"| challenger | {p['candidate']} | {_pct(p['candidate_val_accuracy'])} | "
                  f"{_pct(p.get('candidate_test_accuracy'))} |",
                  f"| current | {p['current'] or 'none'} | {_pct(p['current_val_accuracy'])} | "
                  f"{_pct(p.get('current_test_accuracy'))} |"]
        if p.get("compared_on_same_data"):
            lines += ["", "Both models were evaluated on the same validation and test data."]
    test = report["splits"].get("test")
    if test:
        lines += ["", "## Test split per digit", "", "| digit | precision | recall | F1 | support |",
                  "|---|---|---|---|---|"]
        lines += [f"| {c['digit']} | {c['precision']:.4f} | {c['recall']:.4f} | {c['f1']:.4f} | {c['support']} |"
                  for c in test["per_class"]]
        for avg in ("macro", "weighted"):
            a = test[avg]
            lines.append(f"| {avg} avg | {a['precision']:.4f} | {a['recall']:.4f} | {a['f1']:.4f} | {test['n']} |")
        lines += ["", "## Confusion matrix (rows true, columns predicted)", "",
                  "| | " + " | ".join(map(str, range(len(test["confusion"])))) + " |",
                  "|---" * (len(test["confusion"]) + 1) + "|"]
        lines += [f"| **{d}** | " + " | ".join(map(str, row)) + " |" for d, row in enumerate(test["confusion"])]
    if report.get("calibration"):
        shown = set(report.get("pictures") or [])
        lines += ["", look_inside_markdown(report["calibration"], report["thresholds"],
                                           *(name if name in shown else None
                                             for name in ("weights.png", "curves.png", "reliability.png"))).rstrip()]
    if report.get("mistakes"):
        lines += ["", "## Worst mistakes (test)", "", "![mistakes](mistakes.png)", "",
                  "| test index | true | predicted | confidence |", "|---|---|---|---|"]
        lines += [f"| {m['index']} | {m['true']} | {m['predicted']} | {m['confidence']:.1%} |"
                  for m in report["mistakes"][:10]]
    return "\n".join(lines) + "\n"


OTHER_WRITERS = {"optdigits": "UCI optdigits test digits (other writers, 8x8 scans scaled up)",
                 "drawn": "MNIST test digits redrawn with a round pen of three widths, as in the viewer",
                 "labelled": "your labelled images"}


def describe_set(name: str, r: dict) -> str:
    """How the report names a set of digits (a labelled folder: with its path)."""
    return OTHER_WRITERS.get(name, name) + (f" in {r['folder']}" if r.get("folder") else "")


def other_writers_markdown(others: dict | None) -> list[str]:
    """The other-writers section: accuracy of each set, then the share read right per digit."""
    if not others:
        return []
    lines = ["", "## Other writers", "", "| digits | accuracy | macro F1 | examples |", "|---|---|---|---|"]
    for name, r in others.items():
        if "missing" in r:
            lines.append(f"| {name}: {describe_set(name, r)} | not scored | | |")
        else:
            lines.append(f"| {name}: {describe_set(name, r)} | {r['accuracy']:.2%} | "
                         f"{r['macro']['f1']:.4f} | {r['n']:,} |")
    scored = {name: r for name, r in others.items() if "missing" not in r}
    if scored:
        lines += ["", "Read right, per digit (recall):", "", "| digit | " + " | ".join(scored) + " |",
                  "|---" * (len(scored) + 1) + "|"]
        lines += [f"| {d} | " + " | ".join(_recall(r["per_class"][d]) for r in scored.values()) + " |"
                  for d in range(len(next(iter(scored.values()))["per_class"]))]
    lines += ["", *[f"{r['missing']}" for r in others.values() if "missing" in r]]
    if "labelled" in scored:
        lines += labelled_markdown(scored["labelled"])
    return lines


def labelled_markdown(r: dict, shown: int = 20) -> list[str]:
    """A labelled folder's confusion matrix, its most confident mistakes by file, its unreadable files."""
    k = len(r["confusion"])
    lines = ["", f"## Your labelled images ({r['folder']})", "", "Confusion matrix (rows true, columns predicted):", "",
             "| | " + " | ".join(map(str, range(k))) + " |", "|---" * (k + 1) + "|"]
    lines += [f"| **{d}** | " + " | ".join(map(str, row)) + " |" for d, row in enumerate(r["confusion"])]
    if r["mistakes"]:
        lines += ["", f"Read wrong, most confident first ({len(r['mistakes'])} in labelled_mistakes.csv):", "",
                  "| file | true | predicted | confidence |", "|---|---|---|---|"]
        lines += [f"| {m['path']} | {m['true']} | {m['predicted']} | {m['confidence']:.1%} |"
                  for m in r["mistakes"][:shown]]
    if r["unreadable"]:
        lines += ["", f"Left out ({len(r['unreadable'])}): " + "; ".join(r["unreadable"][:shown])]
    return lines


def other_writers_rows(others: dict) -> list[dict]:
    """One row per digit: the share of each other-writers set read right (for a table artifact)."""
    scored = {name: r for name, r in others.items() if "missing" not in r}
    if not scored:
        return []
    return [{"digit": d, **{name: round(r["per_class"][d]["recall"], 4) if r["per_class"][d]["support"] else None
                            for name, r in scored.items()}}
            for d in range(len(next(iter(scored.values()))["per_class"]))]


def _recall(digit: dict) -> str:
    """A digit's recall as a percentage; "n/a" when the set holds none of that digit."""
    return f"{digit['recall']:.2%}" if digit["support"] else "n/a"


def _pct(value) -> str:
    return "n/a" if value is None else f"{value:.2%}"


def confusion_png(cm) -> Image.Image:
    """A heat map of the confusion matrix with counts, 10x10 cells of 44 px."""
    cm = np.asarray(cm)
    k, cell, margin = len(cm), 44, 28
    image = Image.new("RGB", (margin + k * cell + 1, margin + k * cell + 1), "white")
    draw = ImageDraw.Draw(image)
    row_share = cm / np.maximum(cm.sum(axis=1, keepdims=True), 1)
    for t in range(k):
        draw.text((margin // 2 - 3, margin + t * cell + cell // 2 - 6), str(t), fill="black")
        draw.text((margin + t * cell + cell // 2 - 3, margin // 2 - 6), str(t), fill="black")
        for p in range(k):
            share = row_share[t, p]
            shade = (int(255 * (1 - share)), int(255 * (1 - 0.6 * share)), 255) if t == p else \
                    (255, int(255 * (1 - min(1, 8 * share))), int(255 * (1 - min(1, 8 * share))))
            box = (margin + p * cell, margin + t * cell, margin + (p + 1) * cell, margin + (t + 1) * cell)
            draw.rectangle(box, fill=shade, outline=(200, 200, 200))
            text = str(int(cm[t, p]))
            draw.text((box[0] + cell // 2 - 3 * len(text), box[1] + cell // 2 - 6), text,
                      fill="white" if t == p and share > 0.6 else "black")
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


def write_report(folder: Path, report: dict, test_images: np.ndarray, title: str, images: dict | None = None) -> Path:
    """Write every report file into `folder` (each atomically), and `images` ({file name: PIL image},
    e.g. the look-inside pictures); returns the folder."""
    folder.mkdir(parents=True, exist_ok=True)
    atomic.write_json(folder / "report.json", report)
    test = report["splits"]["test"]
    atomic.write_text(folder / "per_class.csv", _csv_text(
        ["digit", "precision", "recall", "f1", "support"],
        [[c["digit"], f"{c['precision']:.6f}", f"{c['recall']:.6f}", f"{c['f1']:.6f}", c["support"]]
         for c in test["per_class"]]))
    atomic.write_text(folder / "confusion.csv", _csv_text(
        ["true\\predicted", *range(len(test["confusion"]))], [[d, *row] for d, row in enumerate(test["confusion"])]))
    atomic.write_text(folder / "mistakes.csv", _csv_text(
        ["test_index", "true", "predicted", "confidence", "p_true"],
        [[m["index"], m["true"], m["predicted"], f"{m['confidence']:.6f}", f"{m['p_true']:.6f}"]
         for m in report.get("mistakes", [])]))
    labelled = (report.get("others") or {}).get("labelled")
    if labelled and "mistakes" in labelled:
        atomic.write_text(folder / "labelled_mistakes.csv", _csv_text(
            ["path", "true", "predicted", "confidence"],
            [[m["path"], m["true"], m["predicted"], f"{m['confidence']:.6f}"] for m in labelled["mistakes"]]))
    atomic.write_text(folder / "report.md", markdown(report, title))
    for name, image in (("confusion.png", confusion_png(test["confusion"])),
                        ("mistakes.png", mistakes_png(test_images, report.get("mistakes", []))),
                        *(images or {}).items()):
        with atomic.atomic_path(folder / name) as tmp:
            image.save(tmp, format="PNG")
    return folder


def report_link(folder: str | os.PathLike) -> str:
    """A file:// link to a report folder's report.md (for the Prefect UI)."""
    return Path(folder).resolve().joinpath("report.md").as_uri()


def read_report(folder: str | os.PathLike) -> dict:
    """report.json of a report folder; DataError names the file when missing or malformed."""
    return read_record(Path(folder) / "report.json", "report")
