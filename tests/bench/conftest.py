"""Running a benchmark through the CLI and reading its JSON line (issue 9: smoke tests, never timings)."""

import json

import pytest

from spirl.cli import main

REQUIRED = {"benchmark", "figures", "device", "precision", "ratio", "machine"}


@pytest.fixture
def bench_json(capsys):
    """``bench_json("saliency", "--game", "Seaquest")``: run ``spirl bench NAME --quick --json ...``; its JSON line.

    Asserts the exit code is 0 and that the last printed line is one JSON object with the keys every
    benchmark promises (figures, device, precision, ratio); the figures' values are not timed here.
    """

    def run(name: str, *options: str) -> dict:
        code = main(["bench", name, "--quick", "--json", *options])
        out = capsys.readouterr().out.strip().splitlines()
        assert code == 0, "\n".join(out[-20:])
        doc = json.loads(out[-1])
        assert set(doc) >= REQUIRED, sorted(REQUIRED - set(doc))
        assert doc["benchmark"] == name and doc["quick"] is True
        assert isinstance(doc["figures"], dict) and doc["figures"]
        assert doc["ratio"] is None or doc["ratio"] > 0
        assert any(line.startswith("ratio ") for line in out[:-1])  # the same ratio, in words, before it
        return doc

    return run
