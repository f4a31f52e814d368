# Stage 6d: the report, reports/report.html, from the tables, figures, runs and method files.


rule report:
    input:
        tables=rules.tables.output,
        figures=rules.plots.output,
        saliency=wp.saliency_panel_dirs(PRESET),
        attention=wp.attention_pngs(PRESET, METHODS),
        methods=wp.method_yamls(PRESET),
        runs=wp.run_jsons(PRESET),
        published=["results/published.yaml"] if PRESET.published else [],
        code=get_code("spirl.commands.report"),
    output:
        "reports/report.html",
    params:
        figures=wp.report_figure_dirs(PRESET, METHODS),
        published=lambda wc, input: f"--published-config {input.published}" if input.published else "",
        title=PRESET.report_title,
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
