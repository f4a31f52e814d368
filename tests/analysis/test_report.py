"""spirl.analysis.report: the HTML report builds from synthetic runs, tables and figures, self-contained."""

import base64
import html
import json
import re

import numpy as np
import pytest
import yaml
from PIL import Image

from spirl import cli
from spirl.analysis import paper_numbers as paper
from spirl.analysis import paper_tables as pt
from spirl.analysis import report as rp
from spirl.analysis import scores as sc
from spirl.analysis import table_model as tb


def make_runs(root, env_steps, methods=("spirl", "de_rainbow"), games=("Seaquest",), seeds=2):
    for i, m in enumerate(methods):
        for g in games:
            for s in range(seeds):
                d = root / m / g / str(s)
                d.mkdir(parents=True)
                scores = np.array([100.0 * (i + 1) + s, 110.0 * (i + 1) + s])
                d.joinpath("eval.csv").write_text(
                    "step,episodes,mean,median,std,min,max,scores\n"
                    f"{env_steps},2,{scores.mean()},{np.median(scores)},{scores.std()},{scores.min()},"
                    f"{scores.max()},{';'.join(map(str, scores))}\n")
                meta = {"method": m, "game": g, "seed": s, "git_commit": "0123456789abcdef", "device": "cpu",
                        "threads": 1, "wall_time_s": 3725.0, "steps_per_s": 27.5,
                        "versions": {"torch": "2.13.0", "numpy": "2.4.6", "python": "3.11"},
                        "settings": {"budget": {"env_steps": env_steps, "eval_episodes": 2 if env_steps < 100_000
                                                else 50}}}
                d.joinpath("run.json").write_text(json.dumps(meta))


def make_methods(root):
    root.mkdir()
    base = {"name": "spirl", "agent": {"encoder": "spirl", "residual": False}, "pretrain": {"epochs": 50},
            "budget": {"env_steps": 2000}}
    root.joinpath("spirl.yaml").write_text(yaml.safe_dump(base))
    other = {**base, "name": "de_rainbow", "agent": {"encoder": "de_cnn", "residual": False}}
    root.joinpath("de_rainbow.yaml").write_text(yaml.safe_dump(other))


def test_report_embeds_tables_figures_inventory_settings_choices_and_sources(tmp_path):
    make_runs(tmp_path / "runs", 2000)
    make_methods(tmp_path / "methods")
    df = sc.aggregate_runs([tmp_path / "runs"])
    tb.write_tables(pt.build_tables(df, reps=20), tmp_path / "tables")
    figs = tmp_path / "figures"
    figs.mkdir()
    Image.new("RGB", (8, 6), (0, 114, 178)).save(figs / "learning_curves.png")
    (figs / "captions.json").write_text(json.dumps({"learning_curves": "Learning curves, mean ± std."}))
    Image.new("RGB", (4, 4)).save(figs / "saliency_panel.png")  # another module's figure, no caption entry
    out = tmp_path / "report.html"
    (tmp_path / "published.yaml").write_text(yaml.safe_dump({"published": [
        {"name": "SPR", "url": "https://example.org/SPR.json", "sha256": "ab" * 32, "source": "iris mirror"}]}))
    code = cli.main(["report", "--out", str(out), "--tables", str(tmp_path / "tables"), "--figures", str(figs),
                     "--runs", str(tmp_path / "runs"), "--methods", str(tmp_path / "methods"),
                     "--published-config", str(tmp_path / "published.yaml")])
    assert code == 0
    text = out.read_text()
    assert "Demonstration numbers, not the paper&#x27;s" in text and "2,000 env steps" in text
    # every table of the index, with its caption
    for entry in json.loads((tmp_path / "tables" / "index.json").read_text()):
        assert f'id="{entry["name"]}"' in text
    # figures embedded as base64 PNG, nothing linked from outside
    images = re.findall(r'src="data:image/png;base64,([^"]+)"', text)
    assert len(images) == 2 and base64.b64decode(images[0])[:4] == b"\x89PNG"
    assert "Learning curves, mean ± std." in text and "saliency panel" in text
    assert not re.search(r'src="(?!data:)', text)
    # inventory: 4 runs with wall time, steps/s and versions
    assert text.count("<td>0123456789ab</td>") == 4
    assert "1:02:05" in text and "27.5" in text and "torch 2.13.0" in text
    # settings that differ between methods, every docs/method.md#choices choice with each method's value, and sources
    assert "<td>agent.encoder</td><td>de_cnn</td><td>spirl</td>" in text  # methods in file-name order
    for c in paper.CHOICES:
        assert f"<td>{c.number}</td>" in text
    assert "<td>agent.residual</td><td>False</td><td>False</td>" in text
    assert html.escape(paper.FIG8_SOURCE) in text and "mila-iqia/spr@59ee52f" in text
    assert "<td>https://example.org/SPR.json</td><td>" + "ab" * 32 in text


def test_no_banner_at_the_paper_budget(tmp_path):
    make_runs(tmp_path / "runs", 100_000)
    assert rp.budget_banner(rp.load_runs(tmp_path / "runs")) is None
    (tmp_path / "published.yaml").write_text("published: []\n")  # what the workflow writes without any
    html = rp.build_report(runs_dir=tmp_path / "runs", published_config=tmp_path / "published.yaml")
    assert "No published per-run score files" in html
    assert 'class="banner"' not in html and ">Run inventory</h2>" in html


def test_banner_names_short_evaluations_and_missing_runs():
    runs = [{"settings": {"budget": {"env_steps": 100_000, "eval_episodes": 8}}}]
    assert "8 evaluation episodes" in rp.budget_banner(runs)
    assert "No runs" in rp.budget_banner([])


def test_missing_inputs_are_clear_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="spirl tables"):
        rp.build_report(tables_dir=tmp_path)
    with pytest.raises(FileNotFoundError, match="no runs directory"):
        rp.build_report(runs_dir=tmp_path / "absent")
    bad = tmp_path / "r" / "m" / "g" / "0"
    bad.mkdir(parents=True)
    bad.joinpath("run.json").write_text("{not json")
    with pytest.raises(ValueError, match="not JSON"):
        rp.load_runs(tmp_path / "r")


def test_report_shows_every_published_aggregate_with_its_source():
    text = rp.build_report()
    section = text[text.index("Published aggregates"):]
    section = section[:section.index("</table>")]
    for a in paper.PUBLISHED_AGGREGATES:
        assert f"<td>{html.escape(a.method)}</td>" in section, a.method
        assert html.escape(a.source) in section
    iris = paper.PUBLISHED_AGGREGATES[[a.method for a in paper.PUBLISHED_AGGREGATES].index("IRIS")]
    assert f"<td>{iris.iqm:.3f}</td>" in section and "26 games" in text
    assert section.count("<tr>") == len(paper.PUBLISHED_AGGREGATES) + 1  # header + one row each


def test_contents_links_every_section(tmp_path):
    make_runs(tmp_path / "runs", 400)
    text = rp.build_report(runs_dir=tmp_path / "runs", methods_dir=None)
    ids = set(re.findall(r'<h2 id="([^"]+)">', text))
    links = re.findall(r'<a href="#([^"]+)">', text)
    assert len(ids) == text.count("<h2") >= 3  # every section heading has an id ...
    assert sorted(links) == sorted(ids)  # ... and one link in the contents
    assert text.index("<nav") < text.index("<h2")


def test_lower_resolution_learning_curves_are_marked():
    paper_run = {"settings": {"budget": {"eval_schedule": "paper", "eval_episodes": 50}}, "plan": {"eval_episodes": 50}}
    tables_run = {"settings": {"budget": {"eval_schedule": "tables", "eval_episodes": 50, "curve_episodes": 10}},
                  "plan": {"eval_episodes": 10}}
    assert rp.curve_note([paper_run]) is None
    note = rp.curve_note([paper_run, tables_run, tables_run])
    assert note.startswith("Lower-resolution learning curves") and "2 run(s) 10 games" in note
