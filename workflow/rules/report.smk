# Stage 6: statistics, paper tables, figures, saliency panels, policy attention and the
# report. These rules read results only; none of them is an input of a run, so editing their
# code (spirl/analysis/) reruns no training. Each rule's modules, the paper's numbers and the
# game table are inputs of it (analysis_code), so editing a published number, a normalisation
# score or a table's code remakes what depends on it.


rule published_list:
    output:
        "results/published.yaml",
    params:
        published=lambda wc: {"published": published_entries()},
    log:
        "results/logs/published/list.log",
    localrule: True
    run:
        write_yaml(params.published, output[0], log[0], "published per-run files")


rule published_entry:
    output:
        "results/published/{name}.yaml",
    params:
        entry=lambda wc: {"published": [published_entry(wc.name)]},
    log:
        "results/logs/published/{name}.entry.log",
    localrule: True
    run:
        write_yaml(params.entry, output[0], log[0], f"published file {wildcards.name}")


rule fetch_published:
    input:
        "results/published/{name}.yaml",
    output:
        "results/published/{name}.json",
    log:
        "results/logs/published/{name}.log",
    conda:
        "../envs/spirl.yaml"
    shell:
        "python -m spirl fetch-published --published-config {input:q} --out results/published > {log:q} 2>&1"


rule stats:
    input:
        scores="results/scores.csv",
        published=list(published_jsons().values()),
        code=analysis_code("analysis/scores", "analysis/stats", "analysis/poi", "analysis/intervals",
                           "analysis/published"),
    output:
        aggregates="reports/stats/aggregates.csv",
        profiles="reports/stats/profiles.csv",
        poi="reports/stats/poi.csv",
        curves="reports/stats/curves.csv",
    params:
        args=stats_args,
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
        "python -m spirl stats --scores {input.scores} --out reports/stats {params.args} > {log} 2>&1"


rule tables:
    input:
        scores="results/scores.csv",
        khist=all_k_hists(),
        studies=expand("results/studies/{study}.yaml", study=study_names()),
        code=analysis_code("analysis/tables", "analysis/verdicts", "analysis/paper_tables", "analysis/study_tables",
                           "analysis/scores", "analysis/stats", "analysis/poi", "analysis/intervals",
                           "saliency/kstats"),
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
            for mae in mae_variants_used()
        ],
        studies=[
            report(
                f"reports/tables/study-{study}.html",
                caption="../report/study.rst",
                category="Studies",
                subcategory=study,
                labels={"study": study, "kind": "table"},
            )
            for study in study_names()
        ],
    params:
        reps=lambda wc: PRESET.stats.reps,
        seed=lambda wc: PRESET.stats.seed,
        interval=lambda wc: PRESET.stats.interval,
        khist=lambda wc, input: f"--k-hist {' '.join(input.khist)}" if input.khist else "",
        studies=lambda wc, input: f"--study {' '.join(input.studies)}" if input.studies else "",
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
        "python -m spirl tables --scores {input.scores} --out reports/tables {params.khist} {params.studies} "
        "--reps {params.reps} --seed {params.seed} --interval {params.interval} > {log} 2>&1"


rule plots:
    input:
        scores="results/scores.csv",
        stats=rules.stats.output,
        khist=all_k_hists(),
        studies=expand("results/studies/{study}.yaml", study=study_names()),
        code=analysis_code("analysis/plots", "analysis/figures", "analysis/styles", "analysis/scores",
                           "analysis/stats", "analysis/poi", "saliency/kstats"),
    output:
        captions="reports/figures/captions.json",
        figures=[
            report(
                f"reports/figures/{name}.png",
                caption=f"../report/{name}.rst",
                category="Figures",
                labels={"figure": name},
            )
            for name in figure_names()
        ],
        k_hist=[
            report(
                f"reports/figures/k_hist-{mae}.png",
                caption="../report/k_hist.rst",
                category="Salient patches",
                labels={"MAE": mae, "kind": "figure"},
            )
            for mae in mae_variants_used()
        ],
        studies=[
            report(
                f"reports/figures/study-{study}.png",
                caption="../report/study.rst",
                category="Studies",
                subcategory=study,
                labels={"study": study, "kind": "figure"},
            )
            for study in study_names()
        ],
    params:
        khist=lambda wc, input: f"--k-hist {' '.join(input.khist)}" if input.khist else "",
        studies=lambda wc, input: f"--study {' '.join(input.studies)}" if input.studies else "",
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
        "python -m spirl plots --scores {input.scores} --stats reports/stats {params.khist} {params.studies} "
        "--out reports/figures > {log} 2>&1"


rule visualize:
    input:
        mae="results/mae/{mae}/{game}/model.pt",
        frames="results/frames/{game}.npz",
    output:
        report(
            directory("reports/saliency/{mae}/{game}"),
            patterns=["{name}.png"],
            caption="../report/saliency_panel.rst",
            category="Salient patches",
            labels={"MAE": "{mae}", "game": "{game}", "figure": "{name}"},
        ),
    params:
        index=visualize_frame,
    log:
        "results/logs/visualize/{mae}/{game}.log",
    benchmark:
        "results/benchmarks/visualize/{mae}/{game}.tsv"
    threads: 1
    resources:
        mem_mb=get_frames_mem_mb,
        runtime=10,
    conda:
        "../envs/spirl.yaml"
    shell:
        "python -m spirl visualize --mae {input.mae} --frames {input.frames} --index {params.index} "
        "--out {output} --threads {threads} > {log} 2>&1"


rule attention:
    input:
        run="results/runs/{method}/{game}/{seed}/run.json",
        mae=lambda wc: f"results/mae/{METHODS[wc.method].mae_variant}/{wc.game}/model.pt",
    output:
        png=report(
            "reports/attention/{method}/{game}/{seed}/attention.png",
            caption="../report/attention.rst",
            category="Policy attention",
            labels={"method": "{method}", "game": "{game}", "seed": "{seed}"},
        ),
        gif="reports/attention/{method}/{game}/{seed}/attention.gif",
        csv="reports/attention/{method}/{game}/{seed}/attention.csv",
    params:
        run=lambda wc, input: os.path.dirname(input.run),
        out=lambda wc, output: os.path.dirname(output.png),
    log:
        "results/logs/attention/{method}/{game}/{seed}.log",
    benchmark:
        "results/benchmarks/attention/{method}/{game}/{seed}.tsv"
    threads: 1
    resources:
        mem_mb=3000,
        runtime=30,
    conda:
        "../envs/spirl.yaml"
    shell:
        "python -m spirl attention --run {params.run} --mae {input.mae} --out {params.out} --threads {threads} "
        "> {log} 2>&1"


rule report:
    input:
        tables=rules.tables.output,
        figures=rules.plots.output,
        saliency=expand("reports/saliency/{mae}/{game}", zip, mae=[v for v, _ in PRESET.maes()],
                        game=[g for _, g in PRESET.maes()]),
        attention=[f"reports/attention/{m}/{g}/{s}/attention.png" for m, g, s in attention_runs()],
        methods=expand("results/methods/{method}.yaml", method=PRESET.method_names()),
        runs=[f"{run_dir(m, g, s)}/run.json" for m, g, s in PRESET.runs()],
        published=["results/published.yaml"] if published_entries() else [],
        code=analysis_code("analysis/report"),
    output:
        "reports/report.html",
    params:
        figures=report_figure_dirs(),
        published=lambda wc, input: f"--published-config {input.published}" if input.published else "",
        title=report_title(),
    log:
        "results/logs/report.log",
    benchmark:
        "results/benchmarks/report.tsv"
    localrule: True
    conda:
        "../envs/spirl.yaml"
    shell:
        "python -m spirl report --out {output} --tables reports/tables --figures {params.figures} "
        "--runs results/runs --methods results/methods {params.published} "
        "--title {params.title:q} > {log} 2>&1"
