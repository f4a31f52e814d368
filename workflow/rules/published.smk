# Stage 6a: the published per-run scores a preset lists (`published:`), fetched and checked by sha256.


rule published_list:
    output:
        "results/published.yaml",
    params:
        published=lambda wc: {"published": PRESET.published},
    log:
        "results/logs/published/list.log",
    localrule: True
    run:
        write_yaml(params.published, output[0], log[0], "published per-run files")


rule published_entry:
    output:
        "results/published/{name}.yaml",
    params:
        entry=lambda wc: {"published": [wp.published_entry(PRESET, wc.name)]},
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
