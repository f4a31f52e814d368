# Stage 1: random-policy frames per game (docs/method.md#step-frames), the MAE's pretraining set.


rule collect:
    output:
        "results/frames/{game}.npz",
    params:
        frames=get_pretrain_frames,
        seed=wp.COLLECT_SEED,
    log:
        "results/logs/collect/{game}.log",
    benchmark:
        "results/benchmarks/collect/{game}.tsv"
    threads: 1
    resources:
        mem_mb=get_frames_mem_mb,
        runtime=get_collect_runtime,
    conda:
        "../envs/spirl.yaml"
    shell:
        "python -m spirl collect --game {wildcards.game} --n-frames {params.frames} --seed {params.seed} "
        "--out {output} > {log} 2>&1"
