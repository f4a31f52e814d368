# Stage 5: every run's evaluations in one tidy table (one expand over the preset's runs).


rule aggregate:
    input:
        wp.eval_csvs(PRESET),
    output:
        "results/scores.csv",
    log:
        "results/logs/aggregate.log",
    benchmark:
        "results/benchmarks/aggregate.tsv"
    localrule: True
    conda:
        "../envs/spirl.yaml"
    shell:
        "python -m spirl aggregate --runs {input} --out {output} > {log} 2>&1"
