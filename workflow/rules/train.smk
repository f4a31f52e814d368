# Stage 4: one method's resolved settings, then one training run per (method, game, seed).
#
# results/methods/{method}.yaml is written from the resolved settings held in `params`, so with
# the `params` rerun trigger it is rewritten only when that method's settings change; a run
# takes that file as input, so editing one method reruns only its runs, and nothing in
# spirl/ (plots, statistics) is an input of a run.


rule resolve_method:
    output:
        "results/methods/{method}.yaml",
    params:
        settings=lambda wc: method_file_doc(wc.method, METHODS[wc.method]),
    log:
        "results/logs/methods/{method}.log",
    localrule: True
    run:
        # From the in-memory preset, so that --config overrides and several presets are honoured.
        write_yaml(params.settings, output[0], log[0], f"resolved settings of {wildcards.method}")


# `exec`: the run is Snakemake's own child, so a scheduler's SIGTERM before a time limit reaches it with no
# shell in between that would die first; it keeps a checkpoint and exits 75 (spirl.preempt), and the
# SLURM profile's retries resubmit it to resume (docs/reliability.md#time-limits).
rule train:
    input:
        unpack(get_train_inputs),
    output:
        eval="results/runs/{method}/{game}/{seed}/eval.csv",
        run="results/runs/{method}/{game}/{seed}/run.json",
    params:
        out=lambda wc, output: os.path.dirname(output.eval),
        extra=lambda wc, input: wp.train_flags(dict(input.items())),
        pretrain_frames=get_pretrain_frames,
    log:
        "results/logs/train/{method}/{game}/{seed}.log",
    benchmark:
        "results/benchmarks/train/{method}/{game}/{seed}.tsv"
    threads: get_threads()
    resources:
        mem_mb=get_train_mem_mb,
        runtime=get_train_runtime,
        gpu=get_train_gpu,
        gpu_slots=lambda wc: get_train_gpu(wc, "gpu_slots"),
        gres=lambda wc: get_train_gpu(wc, "gres"),
    conda:
        "../envs/spirl.yaml"
    shell:
        "exec python -m spirl train --config {input.method} --method {wildcards.method} --game {wildcards.game} "
        "--seed {wildcards.seed} --out {params.out} {params.extra} "
        "--pretrain-frames {params.pretrain_frames} --threads {threads} {TRACK_ARGS} > {log} 2>&1"
