# Stage 6b: statistics, paper tables and figures. These rules read results only; none of them is an
# input of a run, so editing their code reruns no training. The source files each rule's command
# imports (spirl.imports.source_files, read from the import graph) are inputs of it, so editing a
# published number, a normalisation score or a table's code remakes what depends on it.


rule stats:
    input:
        scores="results/scores.csv",
        published=list(wp.published_jsons(PRESET).values()),
        code=get_code("spirl.commands.stats"),
    output:
        aggregates="reports/stats/aggregates.csv",
        profiles="reports/stats/profiles.csv",
        poi="reports/stats/poi.csv",
        curves="reports/stats/curves.csv",
    params:
        flags=lambda wc: wp.stats_flags(PRESET.stats, wp.published_jsons(PRESET)),
    log:
        "results/logs/stats.log",
    benchmark:
        "results/benchmarks/stats.tsv"
    resources:
        mem_mb=4000,
        runtime=60,
    conda:
        "../envs/spirl.yaml"
    shell:
        "python -m spirl stats --scores {input.scores} --out reports/stats {params.flags} > {log} 2>&1"


rule tables:
    input:
        scores="results/scores.csv",
        khist=wp.k_hists(PRESET),
        studies=wp.study_yamls(PRESET),
        code=get_code("spirl.commands.tables"),
    output:
        index="reports/tables/index.json",
        paper=[
            report(
                f"reports/tables/{name}.html",
                caption="../report/paper_table.rst",
                category="Paper tables",
                labels={"table": name},
            )
            for name in ("table2", "table11", "table14", "table15")
        ],
        fig8=[
            report(
                f"reports/tables/fig8-{mae}.html",
                caption="../report/k_hist.rst",
                category="Salient patches",
                labels={"MAE": mae, "kind": "table"},
            )
            for mae in wp.mae_variants_used(PRESET)
        ],
        studies=[
            report(
                f"reports/tables/study-{study}.html",
                caption="../report/study.rst",
                category="Studies",
                subcategory=study,
                labels={"study": study, "kind": "table"},
            )
            for study in PRESET.studies
        ],
    params:
        flags=lambda wc, input: wp.tables_flags(PRESET.stats, input.khist, input.studies),
    log:
        "results/logs/tables.log",
    benchmark:
        "results/benchmarks/tables.tsv"
    resources:
        mem_mb=4000,
        runtime=30,
    conda:
        "../envs/spirl.yaml"
    shell:
        "python -m spirl tables --scores {input.scores} --out reports/tables {params.flags} > {log} 2>&1"


rule plots:
    input:
        scores="results/scores.csv",
        stats=rules.stats.output,
        khist=wp.k_hists(PRESET),
        studies=wp.study_yamls(PRESET),
        code=get_code("spirl.commands.plots"),
    output:
        captions="reports/figures/captions.json",
        figures=[
            report(
                f"reports/figures/{name}.png",
                caption=f"../report/{name}.rst",
                category="Figures",
                labels={"figure": name},
            )
            for name in wp.figure_names(PRESET)
        ],
        k_hist=[
            report(
                f"reports/figures/k_hist-{mae}.png",
                caption="../report/k_hist.rst",
                category="Salient patches",
                labels={"MAE": mae, "kind": "figure"},
            )
            for mae in wp.mae_variants_used(PRESET)
        ],
        studies=[
            report(
                f"reports/figures/study-{study}.png",
                caption="../report/study.rst",
                category="Studies",
                subcategory=study,
                labels={"study": study, "kind": "figure"},
            )
            for study in PRESET.studies
        ],
    params:
        flags=lambda wc, input: wp.plots_flags(input.khist, input.studies),
    log:
        "results/logs/plots.log",
    benchmark:
        "results/benchmarks/plots.tsv"
    resources:
        mem_mb=4000,
        runtime=30,
    conda:
        "../envs/spirl.yaml"
    shell:
        "python -m spirl plots --scores {input.scores} --stats reports/stats {params.flags} "
        "--out reports/figures > {log} 2>&1"
