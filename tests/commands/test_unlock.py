"""spirl unlock: Snakemake's own --unlock, only when no Snakemake process works in the directory."""

from pathlib import Path

from spirl import cli

SNAKEFILE = Path(__file__).resolve().parents[2] / "Snakefile"


def _lock(tmp_path: Path) -> Path:
    locks = tmp_path / ".snakemake" / "locks"
    locks.mkdir(parents=True)
    (locks / "0.input.lock").write_text(str(tmp_path / "results/scores.csv"))
    return locks


def test_a_stale_lock_is_removed_by_snakemake_unlock(tmp_path, capsys):
    locks = _lock(tmp_path)
    assert cli.main(["unlock", str(tmp_path), "--snakefile", str(SNAKEFILE)]) == 0
    assert "removed the stale Snakemake lock" in capsys.readouterr().out
    assert not list(locks.glob("*.lock"))
    assert cli.main(["unlock", str(tmp_path)]) == 0
    assert "no Snakemake lock" in capsys.readouterr().out


def test_a_lock_held_by_a_live_snakemake_is_left(tmp_path, capsys, live_snakemake):
    locks = _lock(tmp_path)
    proc = live_snakemake(tmp_path)
    try:
        assert cli.main(["unlock", str(tmp_path), "--snakefile", str(SNAKEFILE)]) == 0
    finally:
        proc.kill()
        proc.wait()
    assert f"held by Snakemake process {proc.pid}" in capsys.readouterr().out
    assert list(locks.glob("*.lock"))
