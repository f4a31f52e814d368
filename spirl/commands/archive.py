"""``spirl export`` and ``spirl import``: share a pretrained MAE or a finished run as one verified archive.

The packing, digests and checks live in ``spirl.archive``; this module only parses the command lines.
"""

from __future__ import annotations

import argparse
from dataclasses import asdict
from pathlib import Path

from spirl.commands.args import add_force


def _export_cmd(args: argparse.Namespace) -> int:
    from spirl.archive import export_mae, export_run
    from spirl.integrity import sha256_file
    from spirl.outputs import refuse_existing

    if (args.mae is None) == (args.run is None):
        raise ValueError("give exactly one of --mae MODEL.pt and --run RUN_DIR")
    refuse_existing([args.out], force=args.force)
    out = export_mae(args.mae, args.out) if args.mae else export_run(args.run, args.out, args.network)
    print(f"spirl export: {args.mae or args.run} -> {out} (sha256 {sha256_file(out)})")
    return 0


def configure_export(parser: argparse.ArgumentParser) -> None:
    """``spirl export (--mae results/mae/V/G/model.pt | --run results/runs/M/G/S) --out FILE.tar.gz``."""
    parser.add_argument("--mae", default=None, help="an MAE checkpoint (its pretrain.csv beside it goes along)")
    parser.add_argument("--run", default=None, help="a finished run's folder (eval.csv, run.json, train_log.csv)")
    parser.add_argument("--network", default=None,
                        help="the run's trained network (default: run.json's final_network, or beside the checkpoints)")
    parser.add_argument("--out", required=True, help="the archive to write (.tar.gz)")
    add_force(parser, "--out")
    parser.set_defaults(func=_export_cmd)


def _import_cmd(args: argparse.Namespace) -> int:
    from spirl.archive import import_archive, read_archive, run_architecture
    from spirl.config import load_method, settings_to_dict

    architecture = None
    if (args.config is None) != (args.method is None):
        raise ValueError("--config and --method go together (the method whose architecture the archive must have)")
    if args.config is not None:
        settings = load_method(args.config, args.method)
        kind = read_archive(args.archive)[0]["kind"]
        architecture = asdict(settings.mae) if kind == "mae" else run_architecture(settings_to_dict(settings))
    manifest, written = import_archive(args.archive, args.out, game=args.game, architecture=architecture,
                                       force=args.force)
    what = (f"MAE of {manifest['game']}" if manifest["kind"] == "mae"
            else f"run {manifest['method']}/{manifest['game']}/seed {manifest['seed']}")
    print(f"spirl import: {what}, {len(manifest['files'])} files verified -> {', '.join(map(str, written))}")
    return 0


def configure_import(parser: argparse.ArgumentParser) -> None:
    """``spirl import ARCHIVE --out DIR [--game G] [--config PRESET --method M] [--force]``."""
    parser.add_argument("archive", help="an archive written by 'spirl export'")
    parser.add_argument("--out", required=True, type=Path,
                        help="where its files go: results/mae/VARIANT/GAME for an MAE, results/runs/M/G/S for a run")
    parser.add_argument("--game", default=None, help="refuse an archive of another game")
    parser.add_argument("--config", default=None, help="preset or resolved method file (with --method)")
    parser.add_argument("--method", default=None,
                        help="refuse an archive whose architecture is not this method's (its MAE, or its agent)")
    parser.add_argument("--force", action="store_true", help="replace files that exist")
    parser.set_defaults(func=_import_cmd)
