"""spirl aggregate: the command line over spirl.analysis.scores (every run's eval.csv into one tidy table)."""

import json

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


def write_run(root, method, game, seed, evals, meta=True):
    d = root / method / game / str(seed)
    d.mkdir(parents=True)
    lines = ["step,episodes,mean,median,std,min,max,scores"]
    for step, scores in evals:
        a = np.array(scores, float)
        lines.append(f"{step},{len(a)},{a.mean()},{np.median(a)},{a.std()},{a.min()},{a.max()},"
                     + ";".join(repr(float(s)) for s in a))
    (d / "eval.csv").write_text("\n".join(lines) + "\n")
    if meta:
        (d / "run.json").write_text(json.dumps({"method": method, "game": game, "seed": seed, "settings": {}}))
    return d
