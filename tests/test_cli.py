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


def test_a_usage_error_is_one_line_and_exit_code_2(capsys):
    assert cli.main(["collect", "--game", "Pong", "--n-frames", "x", "--out", "f.npz"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["spirl collect: error: argument --n-frames: expected an integer, got 'x' "
                   "(see 'spirl collect --help')"]


def test_a_failure_during_the_work_is_exit_code_1_and_one_line(monkeypatch, capsys):
    import spirl.commands.config

    def fail(args):
        raise RuntimeError("the loss became nan\nmore detail")

    monkeypatch.setattr(spirl.commands.config, "_check_cmd", fail)
    assert cli.main(["check-config", "--config", "x.yaml"]) == 1
    assert capsys.readouterr().err.strip().splitlines() == ["spirl check-config: error: the loss became nan"]
    monkeypatch.setenv("SPIRL_TRACEBACK", "1")
    assert cli.main(["check-config", "--config", "x.yaml"]) == 1
    assert "Traceback" in capsys.readouterr().err
