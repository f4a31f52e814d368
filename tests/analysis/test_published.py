"""spirl.analysis.published: sha256-pinned download (file:// URLs, no network), refusals, loading; paper numbers."""

import dataclasses
import hashlib
import json
from pathlib import Path

import pytest

from spirl import cli
from spirl.analysis import paper_numbers as paper
from spirl.analysis import scores as sc
from spirl.analysis.published import (
    HashMismatchError,
    PublishedDataError,
    PublishedEntry,
    fetch,
    load_published,
    published_frame,
    read_config,
)
from spirl.atari import games as game_table
from spirl.config import settings


def config(tmp_path, entries):
    path = tmp_path / "config.yaml"
    path.write_text(json.dumps({"published": entries}))
    return path


def test_fetch_checks_the_pinned_hash_and_feeds_the_statistics(tmp_path, reference_file):
    src = reference_file("SimPLe.json")
    cfg = config(tmp_path, [{"name": "SimPLe", "url": src.as_uri(), "sha256": reference_file.sha256["SimPLe.json"],
                             "source": "iris mirror"}])
    out = tmp_path / "published"
    assert cli.main(["fetch-published", "--published-config", str(cfg), "--out", str(out)]) == 0
    got = out / "SimPLe.json"
    assert got.read_bytes() == src.read_bytes()
    # a second fetch keeps the verified file
    assert fetch(read_config(cfg)[0], out) == got
    data = load_published(got)
    assert len(data) == 26 and all(len(v) == 5 for v in data.values())
    m = sc.score_matrices(published_frame(data, "SimPLe"))
    assert list(m) == ["published:SimPLe"] and m["published:SimPLe"].shape == (5, 26)


def test_a_wrong_hash_is_refused_and_leaves_nothing_behind(tmp_path, capsys, reference_file):
    src = reference_file("SPR.json")
    cfg = config(tmp_path, [{"name": "SPR", "url": src.as_uri(), "sha256": "0" * 64}])
    out = tmp_path / "published"
    assert cli.main(["fetch-published", "--published-config", str(cfg), "--out", str(out)]) == 2
    assert "refused" in capsys.readouterr().err
    assert not out.exists()
    out.mkdir()
    with pytest.raises(HashMismatchError):
        fetch(read_config(cfg)[0], out)
    assert list(out.iterdir()) == []


def test_an_existing_file_with_another_hash_is_not_overwritten(tmp_path):
    src = tmp_path / "src.json"
    src.write_text('{"Pong": [1.0, 2.0]}')
    sha = hashlib.sha256(src.read_bytes()).hexdigest()
    out = tmp_path / "out"
    out.mkdir()
    (out / "X.json").write_text("something else")
    with pytest.raises(HashMismatchError, match="exists"):
        fetch(PublishedEntry("X", src.as_uri(), sha), out)
    assert (out / "X.json").read_text() == "something else"


def test_unreachable_urls_and_bad_configs_are_clear_errors(tmp_path):
    with pytest.raises(PublishedDataError, match="cannot download"):
        fetch(PublishedEntry("X", (tmp_path / "missing.json").as_uri(), "a" * 64), tmp_path / "o")
    assert not (tmp_path / "o").exists()
    with pytest.raises(PublishedDataError, match="not 64 hex digits"):
        read_config(config(tmp_path, [{"name": "X", "url": "file:///x", "sha256": "abc"}]))
    with pytest.raises(PublishedDataError, match="missing url"):
        read_config(config(tmp_path, [{"name": "X", "sha256": "a" * 64}]))
    with pytest.raises(PublishedDataError, match="appears twice"):
        read_config(config(tmp_path, [{"name": "X", "url": "https://example.org/x.json", "sha256": "a" * 64}] * 2))
    with pytest.raises(PublishedDataError, match="must start with https://"):
        read_config(config(tmp_path, [{"name": "X", "url": "u", "sha256": "a" * 64}]))
    assert read_config(config(tmp_path, [])) == []  # nothing to fetch
    (tmp_path / "other.yaml").write_text("games: [Pong]\n")
    with pytest.raises(PublishedDataError, match="no 'published:' list"):
        read_config(tmp_path / "other.yaml")


def test_load_published_canonicalises_games_and_refuses_bad_files(tmp_path):
    p = tmp_path / "a.json"
    p.write_text(json.dumps({"ms_pacman": [1, 2.5], "ALE/Pong-v5": [-3]}))
    assert load_published(p) == {"MsPacman": [1.0, 2.5], "Pong": [-3.0]}
    p.write_text(json.dumps({"Pong": ["x"]}))
    with pytest.raises(PublishedDataError, match="list of numbers"):
        load_published(p)
    p.write_text(json.dumps({"Pong": [1.0], "pong": [2.0]}))
    with pytest.raises(PublishedDataError, match="appears twice"):
        load_published(p)
    p.write_text(json.dumps({"Pongg": [1.0]}))
    with pytest.raises(game_table.UnknownGameError):
        load_published(p)


# ---------------------------------------------------------------------------- spirl.analysis.paper_numbers as data


def test_recomputed_published_rows_match_the_per_run_files(reference_file):
    rows = {r.method: r for r in paper.PUBLISHED_100K}
    for name, label in (("SPR", "SPR"), ("DrQ_eps", "DrQ(ε)"), ("SimPLe", "SimPLe")):
        data = load_published(reference_file(f"{name}.json"))
        for g in game_table.PAPER_GAMES:
            mean = sum(data[g]) / len(data[g])
            assert rows[label].scores[g].mean == pytest.approx(mean, abs=0.051), (name, g)


def test_fig8_panels_sum_to_their_dataset_sizes():
    for game, panel in paper.FIG8.items():
        assert sum(panel.counts) == panel.frames, game
        assert panel.frames == game_table.get(game).pretrain_frames
        assert panel.adopted_ratio == game_table.get(game).max_ratio


def test_paper_tables_cover_the_four_games_with_sources():
    for table in (paper.TABLE11_PAPER, paper.TABLE11_REPORTED):
        assert set(table) == set(game_table.PAPER_GAMES)
        assert all(p.source for p in table.values())
    assert {k[0] for k in paper.TABLE15} == set(game_table.PAPER_GAMES) and len(paper.TABLE15) == 16
    assert paper.TABLE15[("Frostbite", "400K", "cls")].statistic == "median"
    assert paper.TABLE14["zero"].mean == 557.9


def test_every_choice_names_a_real_setting():
    sections = {f.name: f.type for f in dataclasses.fields(settings.MethodSettings)}
    classes = {"protocol": settings.ProtocolSettings, "mae": settings.MAEArch,
               "pretrain": settings.PretrainSettings, "saliency": settings.SaliencySettings,
               "agent": settings.AgentSettings, "learner": settings.LearnerSettings,
               "budget": settings.BudgetSettings}
    assert set(classes) <= set(sections)
    numbers = [c.number for c in paper.CHOICES]
    assert numbers[:15] == list(range(1, 16)) and numbers == sorted(set(numbers))  # J#1-15, then later ones
    method_md = (Path(__file__).resolve().parents[2] / "docs" / "method.md").read_text()
    assert all(f'<a id="choice-{n}"></a>' in method_md for n in numbers)
    for c in paper.CHOICES:
        if c.setting:
            section, name = c.setting.split(".")
            assert name in {f.name for f in dataclasses.fields(classes[section])}, c.setting
