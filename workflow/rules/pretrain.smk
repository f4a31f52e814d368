# Stage 2: one MAE per game and MAE variant (docs/method.md#step-mae, docs/method.md#step-pretrain).
#
# results/maes/{mae}.yaml holds the variant's resolved architecture and pretraining settings, written
# from `params` like a method file (train.smk), so editing a variant rewrites only its file and
# retrains only its MAEs; `spirl pretrain --config` reads it as `spirl train --config` reads a method's.


rule resolve_mae:
    output:
        "results/maes/{mae}.yaml",
    params:
        settings=lambda wc: mae_file_doc(wc.mae, MAES[wc.mae]),
    log:
        "results/logs/maes/{mae}.log",
    localrule: True
    run:
        write_yaml(params.settings, output[0], log[0], f"resolved settings of MAE {wildcards.mae}")


rule pretrain:
    input:
        frames="results/frames/{game}.npz",
        settings="results/maes/{mae}.yaml",
    output:
        model="results/mae/{mae}/{game}/model.pt",
        curve="results/mae/{mae}/{game}/pretrain.csv",
    params:
        # Per-epoch resumable state, outside the declared outputs so a rerun resumes from it.
        ckpt="results/.ckpt/mae/{mae}/{game}",
    log:
        "results/logs/pretrain/{mae}/{game}.log",
    benchmark:
        "results/benchmarks/pretrain/{mae}/{game}.tsv"
    threads: get_threads()
    resources:
        mem_mb=get_frames_mem_mb,
        runtime=get_pretrain_runtime,
        gpu=lambda wc: get_gpu(PRESET.device, "gpu"),
        gpu_slots=lambda wc: get_gpu(PRESET.device, "gpu_slots"),
        gres=lambda wc: get_gpu(PRESET.device, "gres"),
    conda:
        "../envs/spirl.yaml"
    shell:
        "exec python -m spirl pretrain --frames {input.frames} --config {input.settings} --out {output.model} "
        "--ckpt-dir {params.ckpt} --threads {threads} > {log} 2>&1"
