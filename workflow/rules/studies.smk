# Ablation studies. A study is a `studies:` entry of the preset; its runs are part of the
# preset's runs (spirl.config.Preset.runs), and this file turns its description into the file
# that `spirl tables` and `spirl plots` read, so each study gets its own table
# (reports/tables/study-{study}.*) and figure (reports/figures/study-{study}.png).
# Adding a study needs no code here.


rule study_file:
    output:
        "results/studies/{study}.yaml",
    params:
        study=lambda wc: PRESET.studies[wc.study].to_dict(),
    log:
        "results/logs/studies/{study}.log",
    localrule: True
    run:
        write_yaml(params.study, output[0], log[0], f"study {wildcards.study}")
