"""`digits models [list]|show|promote`: the registry."""
from __future__ import annotations

import json

from nnmodel.progress import say


def register(commands) -> None:
    models = commands.add_parser("models", help="list, show and promote model versions",
                                 description="The model registry under artifacts/models "
                                             "(`digits models` alone lists it).")
    actions = models.add_subparsers(dest="models_command", metavar="ACTION")
    actions.add_parser("list", help="every version with its scores; * marks the current one")
    show = actions.add_parser("show", help="a version's metadata as JSON")
    show.add_argument("version", nargs="?", help="version (default: the current model)")
    promote = actions.add_parser("promote", help="make a version current")
    promote.add_argument("version")
    promote.add_argument("--force", action="store_true", help="promote even if its validation accuracy is lower")
    models.set_defaults(handler=run, runs_flows=False)


def pct(value) -> str:
    return "n/a" if not isinstance(value, (int, float)) else f"{value:.2%}"


def run(args) -> int:
    from nnmodel.store.registry import Registry

    registry = Registry(args.layout)
    if args.models_command in (None, "list"):
        return list_versions(registry)
    if args.models_command == "show":
        meta = registry.metadata(args.version) if args.version else registry.metadata(registry.resolve().name)
        meta.get("training", {}).pop("history", None)
        print(json.dumps(meta, indent=2, sort_keys=True))
        return 0
    decision = registry.promote(args.version, force=args.force)
    if decision["promoted"]:
        say(f"{args.version} is now current ({decision['reason']})")
        return 0
    if decision["reason"] == "already current":
        say(f"{args.version} is already the current model: nothing to do")
        return 0
    say(f"{args.version} not promoted: {decision['reason']} ({pct(decision['candidate_val_accuracy'])} "
        f"vs {pct(decision['current_val_accuracy'])}); use --force to promote anyway")
    return 1


def list_versions(registry) -> int:
    from nnmodel.model.families import family_class

    versions = registry.versions()
    if not versions:
        say(f"no models in {registry.folder}: run `digits train`")
        return 0
    current = (registry.current() or {}).get("version")
    print(f"{'':2}{'version':<22} {'preset':<9} {'validation':>10} {'test':>8} {'optdigits':>9} {'drawn':>7}  "
          f"{'created':<24} model")
    for version in versions:
        meta = registry.metadata(version)
        model = family_class(meta["family"])(**meta["params"])
        recipe = meta.get("recipe") or {}
        preset = recipe.get("preset") or f"({meta['family']})"
        score = {name: pct(m.get("accuracy")) for name, m in meta.get("metrics", {}).items()}
        print(f"{'*' if version == current else ' ':2}{version:<22} {preset:<9} "
              f"{score.get('validation', 'n/a'):>10} {score.get('test', 'n/a'):>8} "
              f"{score.get('optdigits', 'n/a'):>9} {score.get('drawn', 'n/a'):>7}  {meta.get('created', ''):<24} "
              f"{model.describe()}")
    return 0
