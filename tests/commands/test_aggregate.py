"""spirl aggregate: the command line over spirl.analysis.scores (every run's eval.csv into one tidy table)."""

import hashlib
import json
import shutil

import numpy as np
import pandas as pd

from spirl import cli
from spirl.analysis import scores as sc


def test_aggregate_cli_writes_the_tidy_table(tmp_path):
    runs = tmp_path / "runs"
    write_run(runs, "spirl", "MsPacman", 0, [(50, [1, 2, 3]), (100, [4, 5, 6])])
    write_run(runs, "spirl", "MsPacman", 1, [(50, [1, 2, 3]), (100, [7, 8, 9])], meta=False)
    out = tmp_path / "scores.csv"
    assert cli.main(["aggregate", "--runs", str(runs), "--out", str(out)]) == 0
    df = pd.read_csv(out)
    assert list(df.columns) == list(sc.SCORE_COLUMNS)
    assert len(df) == 12
    final = sc.final_scores(df)
    assert final["score"].tolist() == [5.0, 8.0]
    # a glob and a file list give the same table
    out2 = tmp_path / "scores2.csv"
    assert cli.main(["aggregate", "--runs", str(runs / "*" / "*" / "*" / "eval.csv"), "--out", str(out2)]) == 0
    assert out.read_text() == out2.read_text()


def test_aggregate_refuses_inconsistent_eval_files(tmp_path, capsys):
    d = write_run(tmp_path / "runs", "spirl", "Pong", 0, [(100, [1, 2])])
    (d / "eval.csv").write_text("step,episodes,mean,median,std,min,max,scores\n100,3,1.5,1.5,0.5,1,2,1;2\n")
    assert cli.main(["aggregate", "--runs", str(tmp_path / "runs"), "--out", str(tmp_path / "s.csv")]) == 2
    assert "2 scores but episodes = 3" in capsys.readouterr().err
    assert not (tmp_path / "s.csv").exists()
    assert cli.main(["aggregate", "--runs", str(tmp_path / "nothing"), "--out", str(tmp_path / "s.csv")]) == 2


def test_an_eval_csv_that_contradicts_its_run_json_is_refused(tmp_path, capsys):
    """Issue 20.4: another run's eval.csv, another game's folder, a negative seed, a fractional step."""
    runs = tmp_path / "runs"
    a = write_run(runs, "spirl", "MsPacman", 0, [(100, [1, 2])], digest=True)
    b = write_run(tmp_path / "other", "spirl", "Seaquest", 0, [(100, [700, 900])], digest=True)
    shutil.copy(b / "eval.csv", a / "eval.csv")  # Seaquest's scores in a MsPacman run
    cases = {"is not the eval.csv its run.json finished with": runs}
    c = write_run(tmp_path / "moved", "spirl", "MsPacman", 1, [(100, [1, 2])], digest=True)
    (c / "run.json").write_text((b / "run.json").read_text())  # a Seaquest record in a MsPacman folder
    cases["the folder names MsPacman but its run.json is a run of Seaquest"] = tmp_path / "moved"
    write_run(tmp_path / "negative", "spirl", "MsPacman", -1, [(100, [1, 2])], meta=False)
    cases["seed '-1' is not a non-negative integer"] = tmp_path / "negative"
    d = write_run(tmp_path / "fraction", "spirl", "MsPacman", 0, [(100, [1, 2])], meta=False)
    (d / "eval.csv").write_text((d / "eval.csv").read_text().replace("\n100,", "\n400.7,"))
    cases["step '400.7' is not a whole non-negative number"] = tmp_path / "fraction"
    for says, root in cases.items():
        assert cli.main(["aggregate", "--runs", str(root), "--out", str(tmp_path / "s.csv")]) == 2
        assert says in capsys.readouterr().err
    assert not (tmp_path / "s.csv").exists()


def test_aggregate_cli_writes_rliable_json_and_long_csv(tmp_path, capsys):
    runs = tmp_path / "runs"
    for seed, final in enumerate(([4, 5, 6], [7, 8, 9])):
        write_run(runs, "spirl", "MsPacman", seed, [(50, [1, 2, 3]), (100, final)])
    out, rl, curves = tmp_path / "scores.csv", tmp_path / "rliable", tmp_path / "curves.csv"
    args = ["aggregate", "--runs", str(runs), "--out", str(out), "--rliable", str(rl), "--curves", str(curves)]
    assert cli.main(args) == 0
    assert json.loads((rl / "spirl.json").read_text()) == {"MsPacman": [5.0, 8.0]}
    long = pd.read_csv(curves)
    assert long.to_dict("list") == {"method": ["spirl"] * 4, "game": ["MsPacman"] * 4, "seed": [0, 0, 1, 1],
                                    "step": [50, 100, 50, 100], "score": [2.0, 5.0, 2.0, 8.0]}
    assert cli.main(args) == 2  # every output is refused before any is replaced
    assert "--force" in capsys.readouterr().err
    assert cli.main([*args, "--force"]) == 0


def write_run(root, method, game, seed, evals, meta=True, digest=False):
    d = root / method / game / str(seed)
    d.mkdir(parents=True)
    lines = ["step,episodes,mean,median,std,min,max,scores"]
    for step, scores in evals:
        a = np.array(scores, float)
        lines.append(f"{step},{len(a)},{a.mean()},{np.median(a)},{a.std()},{a.min()},{a.max()},"
                     + ";".join(repr(float(s)) for s in a))
    (d / "eval.csv").write_text("\n".join(lines) + "\n")
    if meta:
        record = {"method": method, "game": game, "seed": seed, "settings": {}}
        if digest:  # as spirl train writes it
            record["eval_csv_sha256"] = hashlib.sha256((d / "eval.csv").read_bytes()).hexdigest()
        (d / "run.json").write_text(json.dumps(record))
    return d
