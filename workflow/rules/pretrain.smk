# Stage 2: one MAE per game and MAE variant (docs/method.md#step-mae, docs/method.md#step-pretrain). The variant's architecture and
# pretraining settings are parameters, so changing them retrains only that variant.


rule pretrain:
    input:
        frames="results/frames/{game}.npz",
    output:
        model="results/mae/{mae}/{game}/model.pt",
        curve="results/mae/{mae}/{game}/pretrain.csv",
    params:
        settings=pretrain_args,
        # Per-epoch resumable state, outside the declared outputs so a rerun resumes from it.
        ckpt="results/.ckpt/mae/{mae}/{game}",
    log:
        "results/logs/pretrain/{mae}/{game}.log",
    benchmark:
        "results/benchmarks/pretrain/{mae}/{game}.tsv"
    threads: threads_per_job()
    resources:
        mem_mb=get_frames_mem_mb,
        runtime=get_pretrain_runtime,
        gpu=lambda wc: gpu_share(PRESET.device, "gpu"),
        gpu_slots=lambda wc: gpu_share(PRESET.device, "gpu_slots"),
        gres=lambda wc: gpu_share(PRESET.device, "gres"),
    conda:
        "../envs/spirl.yaml"
    shell:
        "exec python -m spirl pretrain --frames {input.frames} --out {output.model} {params.settings} "
        "--ckpt-dir {params.ckpt} --threads {threads} > {log} 2>&1"
