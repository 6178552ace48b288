"""Writing evaluation reports for people and machines: JSON, CSV, Markdown and the pictures.

report.json       every number: accuracy per split, per-class precision/recall/F1, averages, confusion,
                  and the same for digits by other writers (optdigits, pen-drawn)
per_class.csv     one row per digit (test split)        confusion.csv   rows true, columns predicted
mistakes.csv      the worst test mistakes (most confident wrong answers)
labelled_mistakes.csv   with `digits evaluate --labelled DIR`: that folder's images read wrong, by file
report.md         a readable summary          confusion.png / mistakes.png   drawn with Pillow
"""
from __future__ import annotations

import base64
import csv
import io
import os
from pathlib import Path

import numpy as np

from nnmodel import atomic
from nnmodel.reports.pictures import confusion_png, mistakes_png
from nnmodel.store.layout import read_record


def _csv_text(header, rows) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return out.getvalue()


SPLIT_ORDER = ("train", "validation", "test")


def in_split_order(splits: dict) -> list[tuple[str, dict]]:
    """(name, report) of each split: train, validation, test, then any other (report.json keeps its
    keys sorted, which would put test first)."""
    return sorted(splits.items(), key=lambda item: (SPLIT_ORDER + (item[0],)).index(item[0]))


def per_digit_rows(split: dict) -> list[dict]:
    """One row per digit of a split's report: precision, recall, F1 (4 decimals) and support."""
    return [{"digit": c["digit"], "precision": round(c["precision"], 4), "recall": round(c["recall"], 4),
             "f1": round(c["f1"], 4), "support": c["support"]} for c in split["per_class"]]


def markdown(report: dict, title: str, picture=lambda name: name) -> str:
    """A readable summary: accuracy per split, per-class table, confusion matrix, worst mistakes.
    `picture(file name)` is where a picture of the report folder is found: the name itself beside
    report.md, a data: URI inside the Prefect UI (`ui_markdown`)."""
    lines = [f"# {title}", "", "| split | accuracy | macro F1 | examples |", "|---|---|---|---|"]
    for name, r in in_split_order(report["splits"]):
        lines.append(f"| {name} | {r['accuracy']:.2%} | {r['macro']['f1']:.4f} | {r['n']:,} |")
    sample = report.get("train_sample")
    if sample and sample["n"] < sample["of"]:
        lines += ["", f"The train row scores a fixed sample of {sample['n']:,} of the {sample['of']:,} training "
                  "images."]
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
                  f"![Confusion matrix]({picture('confusion.png')})", "",
                  "| | " + " | ".join(map(str, range(len(test["confusion"])))) + " |",
                  "|---" * (len(test["confusion"]) + 1) + "|"]
        lines += [f"| **{d}** | " + " | ".join(map(str, row)) + " |" for d, row in enumerate(test["confusion"])]
    if report.get("calibration"):
        shown = set(report.get("pictures") or [])
        lines += ["", look_inside_markdown(report["calibration"], report["thresholds"],
                                           *(picture(name) if name in shown else None
                                             for name in ("weights.png", "curves.png", "reliability.png")),
                                           units=report.get("units", "hidden unit")).rstrip()]
    if report.get("mistakes"):
        lines += ["", "## Worst mistakes (test)", "", f"![mistakes]({picture('mistakes.png')})", "",
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


def write_report(folder: Path, report: dict, test_images: np.ndarray, title: str, images: dict | None = None) -> Path:
    """Write every report file into `folder`, and `images` ({file name: PIL image}, e.g. the look-inside
    pictures); returns the folder. The folder appears (or is replaced) whole: a killed run leaves no half
    report. Rewriting a report keeps the pictures it had that are not drawn again."""
    folder = Path(folder)
    with atomic.atomic_dir(folder) as staging:
        if folder.is_dir():
            for kept in folder.iterdir():
                if kept.is_file() and not kept.name.startswith("."):
                    os.link(kept, staging / kept.name)
        _write_report_files(staging, report, test_images, title, images)
    return folder


def _write_report_files(folder: Path, report: dict, test_images: np.ndarray, title: str, images: dict | None) -> None:
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
    confusion = confusion_png(test["confusion"], f"Confusion matrix, MNIST test ({test['n']:,} digits; rows: true, "
                                                 "columns: read)")
    for name, image in (("confusion.png", confusion),
                        ("mistakes.png", mistakes_png(test_images, report.get("mistakes", []))),
                        *(images or {}).items()):
        with atomic.atomic_path(folder / name) as tmp:
            image.save(tmp, format="PNG")


def look_inside_markdown(calib: dict, table: list[dict], weights: str | None = "weights.png",
                         curves: str | None = "curves.png", reliability: str | None = "reliability.png",
                         units: str | None = "hidden unit") -> str:
    """A Markdown section for a report: the pictures (by file name; None leaves one out; `units`
    names what weights.png shows), the calibration in words and the threshold table."""
    lines = ["## Inside the model", ""]
    if weights and units:
        lines += [f"![What each {units} looks for]({weights})", "",
                  f"Each tile is one {units}'s input weights, most important first: red where ink "
                  f"turns it on, blue where ink turns it off.", ""]
    else:
        lines += ["This model has no units whose input weights can be pictured.", ""]
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


def ui_markdown(folder: str | os.PathLike, title: str) -> str:
    """The report of `folder` as Markdown for the Prefect UI: every picture embedded (a data: URI: the
    UI's server cannot read this folder, and a file:// link is not followed from an http page), and
    where the folder is, as text to copy."""
    folder = Path(folder)

    def embedded(name: str) -> str:
        return "data:image/png;base64," + base64.b64encode((folder / name).read_bytes()).decode()

    return (markdown(read_report(folder), title, embedded)
            + f"\nThe report's files (JSON, CSV, Markdown, PNG) are in `{folder.resolve()}`.\n")


def read_report(folder: str | os.PathLike) -> dict:
    """report.json of a report folder; DataError names the file when missing or malformed."""
    return read_record(Path(folder) / "report.json", "report")
