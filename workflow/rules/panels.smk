# Stage 6c: saliency panels of each MAE and the policy-attention strip of SPIRL runs (report figures).


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
        index=lambda wc: get_pretrain_frames(wc) // 2,  # a frame from the middle of the set
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
        mae=lambda wc: wp.mae_model(METHODS[wc.method].mae_variant, wc.game),
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
