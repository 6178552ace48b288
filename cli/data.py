"""`digits data fetch|prepare`: the raw and data layers, without training."""
from __future__ import annotations

from pathlib import Path

from cli import options as o
from cli import prefect_env
from nnmodel.errors import SetupError
from nnmodel.progress import say


def register(commands) -> None:
    data = commands.add_parser("data", help="fetch, verify and prepare the MNIST data",
                               description="Fetch and verify MNIST (raw layer), then normalise and split it "
                                           "into Parquet train/validation/test files (data layer).")
    steps = data.add_subparsers(dest="data_command", metavar="STEP", required=True)
    fetch = steps.add_parser("fetch", help="read a source, verify SHA-256 digests, write the raw layer")
    o.add(fetch, *o.SOURCE_OPTIONS)
    prepare = steps.add_parser("prepare", help="fetch if needed, then write the Parquet splits")
    o.add(prepare, *o.SOURCE_OPTIONS, *o.SPLIT_OPTIONS, o.REFRESH)
    data.set_defaults(handler=run, runs_flows=True)


def check_source(source: str) -> None:
    if source not in ("bundled", "url") and not Path(source).exists():
        raise SetupError(f"{source}: no such file or folder (--source takes 'bundled', 'url' or a path)")


def run(args) -> int:
    check_source(args.source)
    data_flow = prefect_env.import_flows("data").data_flow
    prepare = args.data_command == "prepare"
    say(f"digits data {args.data_command}: source={args.source} -> {args.layout.root}")
    with prefect_env.flow_settings():
        folder = prefect_env.run_flow(
            data_flow, str(args.layout.root), source=args.source, dataset_name=args.dataset_name,
            base_url=args.base_url, validation_size=getattr(args, "validation_size", 5000),
            split_seed=getattr(args, "split_seed", 0), refresh=getattr(args, "refresh", False), prepare=prepare)
    print(folder)
    return 0
