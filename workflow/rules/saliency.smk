# Stage 3: the uncapped dynamic-K histogram over the pretraining set and the ideal maximal
# ratio (paper Fig. 8); runs with max_ratio: auto take their K_max from it.


rule saliency_stats:
    input:
        mae="results/mae/{mae}/{game}/model.pt",
        frames="results/frames/{game}.npz",
    output:
        "results/saliency/{mae}/{game}/k_hist.csv",
    log:
        "results/logs/saliency/{mae}/{game}.log",
    benchmark:
        "results/benchmarks/saliency/{mae}/{game}.tsv"
    threads: get_threads()
    resources:
        mem_mb=get_frames_mem_mb,
        runtime=get_kstats_runtime,
        gpu=lambda wc: get_gpu(PRESET.device, "gpu"),
        gpu_slots=lambda wc: get_gpu(PRESET.device, "gpu_slots"),
        gres=lambda wc: get_gpu(PRESET.device, "gres"),
    conda:
        "../envs/spirl.yaml"
    shell:
        "exec python -m spirl saliency-stats --mae {input.mae} --frames {input.frames} --out {output} "
        "--threads {threads} > {log} 2>&1"
