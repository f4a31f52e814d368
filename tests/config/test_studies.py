"""spirl.config.studies and the preset's study parsing: variants, references, paper tables, study files."""


from spirl.config import paper_table_tag, parse_preset, read_studies


def test_preset_expands_comparison_and_studies(small):
    p = parse_preset(small)
    runs = p.runs()
    assert ("spirl", "MsPacman", 1) in runs and ("de_rainbow", "Seaquest", 2) in runs
    assert ("padding-mask", "Seaquest", 0) in runs and ("padding-mask", "MsPacman", 0) not in runs
    assert ("spirl_dec1", "MsPacman", 7) in runs
    # spirl seeds 0-1 of the padding study are shared; the decoder study adds seeds 7-8 of spirl and spirl_dec1
    assert len(runs) == len(set(runs)) == 2 * 2 + 2 * 3 + 2 + 2 + 2
    assert set(p.maes()) == {("paper", "MsPacman"), ("paper", "Seaquest"), ("small_dec", "MsPacman")}
    assert p.studies["padding"].reference == "spirl"


def test_studies_load_from_a_preset_with_inline_variants_and_free_text_tables(tmp_path):
    preset = tmp_path / "preset.yaml"
    preset.write_text(
        "games: [Seaquest]\nstudies:\n"
        "  pooling_400k:\n    question: cls or avg?\n    table: Table 15 (400K columns; per-trial medians)\n"
        "    reference: cls\n    variants:\n      cls: {base: spirl, saliency: {max_ratio: 0.5}}\n"
        "      avg: {base: spirl, agent: {pooling: avg}}\n"
        "  padding:\n    table: Table 14\n    reference: zero\n    variants: {zero: spirl, token: {base: spirl}}\n"
        "  fixed_k:\n    table: Fig. 8\n    variants: {dynamic: spirl, fixed: {base: spirl}}\n")
    pooling, padding, fixed = read_studies(preset)
    assert pooling.variants == {"cls": "pooling_400k-cls", "avg": "pooling_400k-avg"}  # spirl.config's names
    assert pooling.reference == "pooling_400k-cls" and pooling.paper_table == "table15-400k"
    assert padding.paper_table == "table14" and padding.variants["token"] == "padding-token"
    assert fixed.paper_table is None and fixed.reference == "spirl"
    assert paper_table_tag("Table 15 (100K columns)") == "table15-100k"
