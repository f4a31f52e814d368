"""The command line dispatcher."""

import subprocess
import sys

from spirl import cli


def test_help_lists_every_command(capsys):
    assert cli.main(["--help"]) == 0
    out = capsys.readouterr().out
    for name in cli.COMMANDS:
        assert name in out


def test_unknown_command_suggests(capsys):
    assert cli.main(["trian"]) == 2
    assert "did you mean train" in capsys.readouterr().err


def test_every_command_module_defines_its_configure_function():
    import importlib

    for name, (module, _) in cli.COMMANDS.items():
        mod = importlib.import_module(module)
        assert callable(getattr(mod, "configure_" + name.replace("-", "_"))), name


def test_python_dash_m_runs_the_same_cli():
    done = subprocess.run([sys.executable, "-m", "spirl", "--version"], capture_output=True, text=True, check=True)
    assert done.stdout.startswith("spirl ")
