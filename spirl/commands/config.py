"""The preset commands: ``spirl check-config`` (the one validation, as the Snakefile runs it) and
``spirl resolve-method`` (one method's resolved settings as YAML, the workflow's method files)."""

from __future__ import annotations

import argparse

import yaml

from spirl.commands.args import add_force
from spirl.config import ConfigError, check_preset, load_preset, method_file_doc, preset_summary, resolve_method
from spirl.guards import refuse_output_in_inputs
from spirl.outputs import refuse_existing
from spirl.utils import atomic_write_text, read_yaml


def _resolve_cmd(args: argparse.Namespace) -> int:
    refuse_output_in_inputs({"--out": args.out}, {"--config": args.config})
    refuse_existing([args.out], force=args.force)
    settings = resolve_method(load_preset(args.config), args.method)
    atomic_write_text(args.out, yaml.safe_dump(method_file_doc(args.method, settings), sort_keys=False))
    return 0


def configure_resolve_method(parser: argparse.ArgumentParser) -> None:
    """``spirl resolve-method --config PRESET --method M --out results/methods/M.yaml``."""
    parser.add_argument("--config", required=True, help="preset YAML")
    parser.add_argument("--method", required=True, help="method name")
    parser.add_argument("--out", required=True, help="where to write the resolved settings (YAML)")
    add_force(parser, "--out")
    parser.set_defaults(func=_resolve_cmd)


def _check_cmd(args: argparse.Namespace) -> int:
    # exactly what the Snakefile runs before any job (check_preset)
    preset = check_preset(read_yaml(args.config, what="preset", error=ConfigError), str(args.config))
    print(preset_summary(preset, str(args.config)))
    if args.list:
        for method, game, seed in preset.runs():
            print(f"  {method:<28} {game:<14} {seed}")
    return 0


def configure_check_config(parser: argparse.ArgumentParser) -> None:
    """``spirl check-config --config PRESET [--list]``."""
    parser.add_argument("--config", required=True, help="preset YAML")
    parser.add_argument("--list", action="store_true", help="list every run")
    parser.set_defaults(func=_check_cmd)


