# Stage 5: every run's evaluations in one tidy table (one expand over the preset's runs), and the same
# scores in the formats others read: each method's final per-run scores as rliable's {game: [score per run]}
# JSON and the per-evaluation curves as a long CSV (spirl.analysis.formats).


rule aggregate:
    input:
        wp.eval_csvs(PRESET),
    output:
        scores="results/scores.csv",
        rliable=wp.rliable_jsons(PRESET),
        curves="results/curves.csv",
    log:
        "results/logs/aggregate.log",
    benchmark:
        "results/benchmarks/aggregate.tsv"
    localrule: True
    conda:
        "../envs/spirl.yaml"
    shell:
        "python -m spirl aggregate --runs {input} --out {output.scores} --rliable results/rliable "
        "--curves {output.curves} > {log} 2>&1"
