"""The Snakemake workflow: presets expand to the right jobs, bad configs stop before any job,
a tiny DAG runs end to end, edits rerun only what they should, and a killed run resumes.

Every test runs the real Snakemake on the real Snakefile in a temporary working directory,
so the project's results/ and reports/ are never touched. The end-to-end tests are marked
``slow`` (they are still part of ``make test``: a few minutes on 2 cores).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter
from functools import cache
from pathlib import Path
from urllib.parse import unquote

import jsonschema
import pytest
import yaml

from spirl import cli
from spirl.analysis.published import load_published
from spirl.config import load_preset, resolve_method

ROOT = Path(__file__).resolve().parents[1]
PRESETS = ROOT / "workflow" / "config"
SCHEMA = ROOT / "workflow" / "schemas" / "config.schema.yaml"
PROFILE = ROOT / "workflow" / "profiles" / "default"
E2E = ROOT / "tests" / "config" / "e2e.yaml"  # the tiny preset CI runs end to end


def preset_file(name: str) -> Path:
    """A shipped preset by name, or the end-to-end test preset ("e2e")."""
    return E2E if name == "e2e" else PRESETS / f"{name}.yaml"


def snakemake(workdir: Path, *args: str, timeout: float = 600, project: Path = ROOT) -> subprocess.CompletedProcess:
    """Run Snakemake on ``project``'s Snakefile with ``workdir`` as its working directory."""
    cmd = [sys.executable, "-m", "snakemake", "--snakefile", str(project / "Snakefile"), "--directory", str(workdir),
           *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)


def planned_jobs(workdir: Path, *args: str, project: Path = ROOT) -> tuple[Counter, set[str]]:
    """The jobs (rule -> count) and output files a dry run plans."""
    proc = snakemake(workdir, "--dry-run", *args, project=project)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    jobs: Counter = Counter()
    outputs: set[str] = set()
    for line in proc.stdout.splitlines():
        m = re.match(r"^(?:local)?rule (\w+):$", line.strip())
        if m:
            jobs[m.group(1)] += 1
        elif line.strip().startswith("output: "):
            outputs.update(p.strip() for p in line.strip()[len("output: "):].split(","))
    return jobs, outputs


@cache
def preset_dry_run(name: str) -> tuple[Counter, frozenset[str], float]:
    """Dry run of one preset from an empty directory (cached: each preset is planned once per session)."""
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        jobs, outputs = planned_jobs(Path(tmp), "--configfile", str(preset_file(name)))
        return jobs, frozenset(outputs), time.perf_counter() - start


# ------------------------------------------------------------------------------------- configuration


@pytest.mark.parametrize("preset", [*sorted(PRESETS.glob("*.yaml")), E2E], ids=lambda p: p.name)
def test_every_preset_passes_both_validators(preset):
    raw = yaml.safe_load(preset.read_text())
    jsonschema.validate(raw, yaml.safe_load(SCHEMA.read_text()))
    assert load_preset(preset).runs()


@pytest.mark.parametrize("name", ["default", "e2e", "paper100k", "paper400k", "atari100k", "paper1game", "quick"])
def test_dry_run_plans_one_job_per_run_and_mae(name):
    jobs, outputs, seconds = preset_dry_run(name)
    preset = load_preset(preset_file(name))
    runs, maes = preset.runs(), preset.maes()
    assert jobs["train"] == len(runs)
    assert jobs["pretrain"] == jobs["saliency_stats"] == jobs["visualize"] == len(maes)
    assert jobs["collect"] == len({game for _, game in maes})
    assert jobs["resolve_method"] == len({method for method, _, _ in runs})
    assert jobs["study_file"] == len(preset.studies)
    for rule in ("aggregate", "stats", "tables", "plots", "report"):
        assert jobs[rule] == 1, rule
    assert {f"results/runs/{m}/{g}/{s}/eval.csv" for m, g, s in runs} <= outputs
    assert {f"results/rliable/{m}.json" for m, _, _ in runs} | {"results/curves.csv"} <= outputs
    assert seconds < 60, f"planning {name} took {seconds:.0f} s"


def test_paper100k_plans_the_papers_experiments_and_every_study():
    jobs, outputs, seconds = preset_dry_run("paper100k")
    preset = load_preset(PRESETS / "paper100k.yaml")
    assert jobs["train"] >= 80
    for game in ("Frostbite", "MsPacman", "Seaquest", "BattleZone"):
        assert f"results/mae/paper/{game}/model.pt" in outputs  # one pretraining of the paper's MAE per game
    seeds = {m: len(s) for m, s in preset.comparison.items()}
    assert seeds == {"spirl": 5, "de_rainbow": 10, "de_rainbow_p": 5}
    assert len(preset.studies) >= 8
    # sticky actions are a variant of one study; the paper's no-sticky protocol stays every other method's
    sticky = preset.studies["sticky_actions"]
    resolved = {label: resolve_method(preset, m) for label, m in sticky.variants.items()}
    assert resolved["sticky"].protocol.repeat_action_probability == 0.25
    assert {resolve_method(preset, m).protocol.repeat_action_probability
            for m in preset.method_names() if m != sticky.variants["sticky"]} == {0.0}
    for study in preset.studies.values():
        for method in study.variants.values():
            for game in study.games:
                for seed in study.seeds:
                    assert f"results/runs/{method}/{game}/{seed}/eval.csv" in outputs
        assert f"reports/tables/study-{study.name}.html" in outputs
        assert f"reports/figures/study-{study.name}.png" in outputs
    assert seconds < 30


BAD_CONFIGS = {
    "unknown key": ({"gamez": ["Seaquest"]}, "unknown key 'gamez'"),
    "unknown game": ({"games": ["Seaquest", "Pacmann"]}, "unknown game 'Pacmann'"),
    "bad type": ({"games": ["Seaquest"], "budget": {"env_steps": "many"}}, "budget.env_steps: expected an integer"),
    "out of range": ({"games": ["Seaquest"], "seeds": 2, "comparison": {"de_rainbow": {}},
                      "methods": {"de_rainbow": {"learner": {"lr": -1}}}},
                     "methods.de_rainbow.learner.lr: must be > 0, got -1"),
    "a key given twice": ("games: [Seaquest]\nseeds: 2\ncomparison:\n  de_rainbow: {}\n  de_rainbow: {}\n",
                          "bad.yaml:5: 'de_rainbow' is defined twice (lines 4 and 5)"),
    "study names an unknown method": (
        {"games": ["Seaquest"], "studies": {"s": {"variants": {"a": "spirl", "b": "spirl_typo"}}}},
        "unknown method 'spirl_typo'",
    ),
    "unknown setting in a method": (
        {"games": ["Seaquest"], "methods": {"m": {"base": "spirl", "learner": {"lrr": 1e-3}}}},
        "methods.m.learner: unknown setting 'lrr'",
    ),
    "two methods disagree on a shared MAE": (
        {"games": ["Seaquest"], "methods": {"m": {"base": "spirl", "pretrain": {"epochs": 100}}},
         "comparison": {"spirl": {}, "m": {}}},
        "share mae_variant 'paper' but differ in pretrain.epochs",
    ),
    "no paper ratio for the game": ({"games": ["Alien"], "seeds": 2, "comparison": {"spirl": {}}}, "maximal ratio"),
    "a single seed": ({"games": ["Seaquest"], "seeds": [3], "comparison": {"de_rainbow": {}}},
                      "'de_rainbow' has 1 seed on Seaquest; the statistics need at least 2"),
    "10**12 seeds": ({"games": ["Seaquest"], "seeds": 10**12, "comparison": {"de_rainbow": {}}},
                     "seeds: a plan of 1,000,000,000,000 seeds needs at least"),  # issue 20.9: was a traceback
}


@pytest.mark.parametrize("case", list(BAD_CONFIGS))
def test_a_wrong_config_fails_before_any_job_with_one_line(case, tmp_path, capsys):
    body, fragment = BAD_CONFIGS[case]
    preset = tmp_path / "bad.yaml"
    preset.write_text(body if isinstance(body, str) else yaml.safe_dump(body))
    proc = snakemake(tmp_path, "--cores", "1", "--configfile", str(preset), timeout=120)
    assert proc.returncode != 0
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("config error") and fragment in lines[0], lines[0]
    assert not (tmp_path / "results").exists()  # not a single job ran
    # spirl check-config runs the very same checks (spirl.config.check_preset): same verdict, same line
    capsys.readouterr()
    assert cli.main(["check-config", "--config", str(preset)]) == 2
    err = capsys.readouterr().err
    assert fragment in err and len(err.strip().splitlines()) == 1, err


def test_a_second_snakemake_on_a_live_directory_says_another_run_is_active(tmp_path, live_snakemake):
    """Issue 20.6: not IncompleteFilesException; the live run (here: a process named snakemake working in the
    directory, as spirl.workflow_lock sees one) is named, and a dry run may still look on."""
    live = live_snakemake(tmp_path)
    try:
        time.sleep(1)
        proc = snakemake(tmp_path, "--cores", "1", "--configfile", str(E2E), timeout=120)
        looking = snakemake(tmp_path, "-n", "--configfile", str(E2E), timeout=120)
    finally:
        live.kill()
        live.wait()
    assert proc.returncode != 0 and "IncompleteFilesException" not in proc.stderr
    assert (f"spirl: another Snakemake run of this workflow is active in {tmp_path.resolve()} (PID {live.pid} on "
            "host") in proc.stderr, proc.stderr
    assert not (tmp_path / "results").exists()
    assert looking.returncode == 0, looking.stderr[-2000:]


def test_a_published_long_csv_is_fetched_as_csv_and_given_to_the_statistics(tmp_path):
    """Published data in our long CSV format (anyone's curves.csv) joins the statistics as the JSON files do."""
    raw = yaml.safe_load(E2E.read_text())
    raw["published"] = [{"name": "theirs", "url": "https://example.org/data/curves.csv", "sha256": "0" * 64},
                        {"name": "SPR", "url": "https://example.org/data/SPR.json", "sha256": "1" * 64}]
    preset = tmp_path / "preset.yaml"
    preset.write_text(yaml.safe_dump(raw))
    jobs, outputs = planned_jobs(tmp_path / "work", "--configfile", str(preset))
    assert {"results/published/theirs.csv", "results/published/SPR.json"} <= outputs
    assert jobs["fetch_published"] == 2
    proc = snakemake(tmp_path / "work", "reports/stats/aggregates.csv", "--dry-run", "--printshellcmds",
                     "--configfile", str(preset))
    assert "theirs=results/published/theirs.csv" in proc.stdout and "--methods results/methods/" in proc.stdout


def test_a_presets_track_key_reaches_every_training_command(tmp_path):
    raw = yaml.safe_load(E2E.read_text())
    raw["track"] = {"wandb": True, "project": "atari 100k", "tensorboard": False}
    preset = tmp_path / "preset.yaml"
    preset.write_text(yaml.safe_dump(raw))
    proc = snakemake(tmp_path / "work", "--dry-run", "--printshellcmds", "--configfile", str(preset))
    trains = [line for line in proc.stdout.splitlines() if "spirl train" in line]
    assert trains and all("--no-tensorboard --track --wandb-project 'atari 100k'" in line for line in trains)


def test_paper1game_takes_its_game_from_the_command_line(tmp_path):
    jobs, outputs, _ = preset_dry_run("paper1game")
    assert jobs["train"] == 6 and jobs["pretrain"] == 1
    assert "results/runs/spirl/Frostbite/1/eval.csv" in outputs
    other, outs = planned_jobs(tmp_path, "--configfile", str(preset_file("paper1game")), "--config", "game=MsPacman")
    assert other["train"] == 6 and "results/mae/paper/MsPacman/model.pt" in outs
    assert not any("Frostbite" in o for o in outs)


@pytest.mark.parametrize("runs, expected", [(1, "gpu=1, gpu_slots=1, gres=,"), (4, "gpu=0, gpu_slots=1, gres=gpu:1,")])
def test_runs_per_gpu_turns_into_the_documented_resources(tmp_path, runs, expected):
    """A GPU run asks for a whole GPU alone, or for one of its runs_per_gpu slots and a gres shared in a group;
    CPU jobs ask for no GPU resource (docs/costs.md#sharing-a-gpu)."""
    raw = yaml.safe_load(E2E.read_text())
    raw["budget"]["device"] = "auto"
    raw["runs_per_gpu"] = runs
    (tmp_path / "gpu.yaml").write_text(yaml.safe_dump(raw))
    proc = snakemake(tmp_path, "--dry-run", "--configfile", str(tmp_path / "gpu.yaml"), timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    by_rule: dict[str, set[str]] = {}
    for block in proc.stdout.split("rule ")[1:]:
        name = block.split(":", 1)[0]
        if name in ("train", "pretrain", "saliency_stats"):
            found = re.search(r"gpu=\d+, gpu_slots=\d+, gres=[^,\n]*,", block)
            by_rule.setdefault(name, set()).add(found.group(0) if found else "no GPU resources")
    for rule in ("train", "pretrain", "saliency_stats"):
        assert by_rule[rule] == {expected}, (rule, by_rule[rule])


# ------------------------------------------------------------------------------------- end to end


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> Path:
    """A copy of the workflow and of spirl/'s sources, so a test can edit a module without touching the tree.

    The jobs still run the installed spirl; the copied sources matter as the rules' declared
    inputs (each report-stage rule takes its module's source, so editing it remakes that output).
    """
    dest = tmp_path_factory.mktemp("project")
    shutil.copy2(ROOT / "Snakefile", dest / "Snakefile")
    shutil.copytree(ROOT / "workflow", dest / "workflow")
    shutil.copytree(ROOT / "spirl", dest / "spirl", ignore=shutil.ignore_patterns("__pycache__"))
    return dest


@pytest.fixture(scope="module")
def preset(tmp_path_factory, reference_file) -> Path:
    """tests/config/e2e.yaml, plus two published score files fetched from the test data (file:// URLs)."""
    raw = yaml.safe_load(E2E.read_text())
    raw["published"] = [{"name": name, "url": reference_file(f"{stem}.json").as_uri(),
                         "sha256": reference_file.sha256[f"{stem}.json"], "source": "tests/data/SOURCES.md"}
                        for name, stem in (("SPR", "SPR"), ("DrQ(eps)", "DrQ_eps"))]
    path = tmp_path_factory.mktemp("preset") / "e2e.yaml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    return path


@pytest.fixture(scope="module")
def finished(project, preset, tmp_path_factory) -> Path:
    """The test preset run to completion with the default profile (the CI end-to-end run)."""
    workdir = tmp_path_factory.mktemp("e2e")
    proc = snakemake(workdir, "--profile", str(PROFILE), "--cores", "2", "--configfile", str(preset),
                     timeout=1200, project=project)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
    return workdir


@pytest.mark.slow
def test_end_to_end_run_writes_every_output(project, preset, finished):
    runs = load_preset(preset).runs()
    for method, game, seed in runs:
        run = finished / f"results/runs/{method}/{game}/{seed}"
        assert (run / "eval.csv").is_file() and (run / "run.json").is_file()
        assert (finished / f"results/benchmarks/train/{method}/{game}/{seed}.tsv").is_file()
        assert (finished / f"results/logs/train/{method}/{game}/{seed}.log").is_file()
    scores = (finished / "results/scores.csv").read_text().splitlines()
    assert scores[0].split(",")[:3] == ["method", "game", "seed"]
    assert {line.split(",")[0] for line in scores[1:]} == {m for m, _, _ in runs}
    for method in {m for m, _, _ in runs}:  # our runs in rliable's format read back as published data
        published = load_published(finished / f"results/rliable/{method}.json")
        assert set(published) == {g for m, g, _ in runs if m == method}
    assert (finished / "results/curves.csv").read_text().startswith("method,game,seed,step,score\n")
    for path in ("results/mae/tiny/Seaquest/model.pt", "results/saliency/tiny/Seaquest/k_hist.csv",
                 "reports/tables/study-selection.html", "reports/figures/study-selection.png",
                 "reports/attention/spirl/Seaquest/0/attention.png", "reports/stats/aggregates.csv"):
        assert (finished / path).is_file(), path
    html = (finished / "reports/report.html").read_text()
    assert "not the paper" in html  # a demonstration says so
    assert (finished / "results/published/DrQ(eps).json").is_file()
    assert "published:SPR" in (finished / "reports/stats/aggregates.csv").read_text()
    again = snakemake(finished, "--dry-run", "--configfile", str(preset), project=project)
    assert "Nothing to be done" in again.stdout + again.stderr


@pytest.mark.slow
def test_the_report_opens_in_a_real_browser(finished, chromium, tmp_path):
    """reports/report.html as a reader opens it: every image loads, every internal link lands, no script errors."""
    page = finished / "reports/report.html"
    shot = tmp_path / "report.png"
    facts = chromium.open(page, shot)
    assert facts["errors"] == []
    assert len(facts["images"]) >= 5, facts["images"]
    assert [i["src"] for i in facts["images"] if not i["ok"]] == []
    ids = set(facts["ids"])
    anchors = [h for h in facts["links"] if h.startswith("#")]
    assert len(anchors) >= 5 and [h for h in anchors if unquote(h[1:]) not in ids] == []
    local = [h for h in facts["links"] if not h.startswith("#") and not re.match(r"^[a-z]+:", h)]
    assert [h for h in local if not (page.parent / unquote(h.split("#")[0])).exists()] == []
    from PIL import Image

    with Image.open(shot) as img:  # the first screen, as a reader sees it
        assert img.size == (1280, 800) and len(img.convert("L").getcolors(1 << 16) or range(1 << 16)) > 16


@pytest.mark.slow
def test_job_logs_carry_progress_records_and_status_reads_them(preset, finished):
    from spirl.progress import parse_record

    runs = load_preset(preset).runs()
    for method, game, seed in runs:
        log = (finished / f"results/logs/train/{method}/{game}/{seed}.log").read_text().splitlines()
        train = [r for r in map(parse_record, log) if r is not None and r.unit == "step"]
        assert train[0].n == 0 and train[-1].n == train[-1].total == 100, log
        assert "eval_mean" in train[-1].fields and all(r.desc == f"{method} {game} seed {seed}" for r in train)
    for step, unit in (("collect/Seaquest", "frame"), ("pretrain/tiny/Seaquest", "batch"),
                       ("saliency/tiny/Seaquest", "frame")):  # every long step of the DAG writes its records
        recs = [r for r in map(parse_record, (finished / f"results/logs/{step}.log").read_text().splitlines()) if r]
        assert recs and recs[-1].unit == unit and recs[-1].n == recs[-1].total, step
    done = subprocess.run([sys.executable, "-m", "spirl", "status", str(finished / "results"), "--config", str(preset),
                           "--json"], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    status = json.loads(done.stdout)
    assert status["counts"]["done"] == len(runs) == len(status["runs"])
    assert all(r["score"] is not None and r["wall_time_s"] > 0 for r in status["runs"])


@pytest.mark.slow
def test_snakemake_report_builds(project, preset, finished, tmp_path):
    out = tmp_path / "report.html"
    proc = snakemake(finished, "--configfile", str(preset), "--report", str(out), timeout=300, project=project)
    assert proc.returncode == 0, proc.stderr[-3000:]
    text = out.read_text()
    assert "study-selection.png" in text and "table2.html" in text


@pytest.mark.slow
def test_editing_plotting_code_reruns_no_training(project, preset, finished):
    plots = project / "spirl" / "analysis" / "plot_axes.py"
    original = plots.read_text()
    try:
        # An edit changes the content (Snakemake 9 compares checksums, so a bare touch reruns nothing).
        plots.write_text(original + "\n# an edit of the plotting code\n")
        jobs, _ = planned_jobs(finished, "--profile", str(PROFILE), "--configfile", str(preset), project=project)
    finally:
        plots.write_text(original)
    assert jobs["plots"] == 1 and jobs["report"] == 1
    assert not {"train", "pretrain", "collect", "saliency_stats", "resolve_method", "stats"} & set(jobs), jobs


@pytest.mark.slow
@pytest.mark.parametrize("module, remade", [
    ("analysis/paper_numbers.py", {"tables", "plots", "report"}),  # a published number (stats does not import it)
    ("atari/games.py", {"stats", "tables", "plots", "report"}),  # a normalisation score
])
def test_editing_published_numbers_marks_the_tables_out_of_date(project, preset, finished, module, remade):
    source = project / "spirl" / module
    original = source.read_text()
    try:
        source.write_text(original + "\n# an edited published number\n")
        jobs, _ = planned_jobs(finished, "--profile", str(PROFILE), "--configfile", str(preset), project=project)
    finally:
        source.write_text(original)
    assert remade <= set(jobs), jobs
    assert not {"train", "pretrain", "collect", "saliency_stats", "resolve_method"} & set(jobs), jobs


@pytest.mark.slow
def test_changing_one_method_reruns_only_its_runs(project, preset, finished):
    raw = yaml.safe_load(preset.read_text())
    raw["studies"]["selection"]["variants"]["random"]["learner"] = {"lr": 2e-4}
    edited = finished / "edited.yaml"
    edited.write_text(yaml.safe_dump(raw, sort_keys=False))
    jobs, outputs = planned_jobs(finished, "--profile", str(PROFILE), "--configfile", str(edited), project=project)
    assert jobs["resolve_method"] == 1 and "results/methods/selection-random.yaml" in outputs
    trained = {p.split("/")[2] for p in outputs if p.startswith("results/runs/")}
    assert trained == {"selection-random"} and jobs["train"] == 2
    assert not {"pretrain", "collect", "saliency_stats", "fetch_published", "study_file"} & set(jobs), jobs


def _wait_for(path_glob: tuple[Path, str], proc: subprocess.Popen, timeout: float = 300) -> None:
    folder, pattern = path_glob
    deadline = time.time() + timeout
    while not list(folder.glob(pattern)):
        assert proc.poll() is None, f"the workflow ended before {folder / pattern} appeared"
        assert time.time() < deadline, f"{folder / pattern} did not appear"
        time.sleep(0.02)


@pytest.mark.slow
def test_a_killed_workflow_recovers_its_lock_and_resumes_bit_identically(project, preset, finished, tmp_path):
    """kill -9 of Snakemake and every job (a power cut), then `spirl unlock` and the same command again (what
    `make reproduce` runs): the stale lock is removed by Snakemake's --unlock, the run resumes from its
    checkpoint, and its eval.csv is the uninterrupted run's, byte for byte."""
    target = "results/runs/de_rainbow/Seaquest/0/eval.csv"
    cmd = [sys.executable, "-m", "snakemake", "--snakefile", str(project / "Snakefile"), "--directory", str(tmp_path),
           "--profile", str(PROFILE), "--cores", "1", target, "--configfile", str(preset)]  # --configfile takes 1+
    ckpt = tmp_path / "results/.ckpt/runs/de_rainbow/Seaquest/0"
    first = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        _wait_for((ckpt, "step-*/MANIFEST"), first)
        assert list((tmp_path / ".snakemake/locks").glob("*.lock"))  # Snakemake holds its lock
        os.killpg(first.pid, signal.SIGKILL)  # the whole workflow at once: no chance to clean anything up
        first.wait(timeout=60)
    finally:
        if first.poll() is None:
            os.killpg(first.pid, signal.SIGKILL)
            first.wait()
    assert list((tmp_path / ".snakemake/locks").glob("*.lock")), "the killed run left no lock to recover from"
    assert not (tmp_path / target).exists()
    unlock = subprocess.run([sys.executable, "-m", "spirl", "unlock", str(tmp_path), "--snakefile",
                             str(project / "Snakefile")], capture_output=True, text=True, timeout=300)
    assert unlock.returncode == 0 and "removed the stale Snakemake lock" in unlock.stdout, unlock.stderr
    second = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert second.returncode == 0, second.stderr[-3000:]
    log = (tmp_path / "results/logs/train/de_rainbow/Seaquest/0.log").read_text()
    assert "resuming de_rainbow/Seaquest/seed 0 from" in log
    assert (tmp_path / target).read_bytes() == (finished / target).read_bytes()
    assert not list(ckpt.glob("step-*")) and not list((tmp_path / ".snakemake/locks").glob("*.lock"))
