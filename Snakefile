# The SPIRL benchmark and ablation DAG (DESIGN.md sections 3-4):
# frames -> MAE per game -> K statistics -> SPIRL and baseline runs across seeds
# -> ablation studies -> scores table -> statistics, tables, figures, report.
#
#   snakemake --cores 2                                   the demonstration preset (default.yaml)
#   snakemake --cores 8 --configfile workflow/config/paper100k.yaml --profile workflow/profiles/default
#   snakemake --profile workflow/profiles/slurm --configfile workflow/config/paper100k.yaml

import sys

from snakemake.utils import min_version, validate

min_version("9.0")


# A preset named with --configfile replaces the demonstration preset rather than being merged
# into it (a merge would leak the demo's shrunken budgets into a paper run).
# The path is absolute so that --directory elsewhere still finds it.
if not workflow.overwrite_configfiles:

    configfile: f"{workflow.basedir}/workflow/config/default.yaml"


include: "workflow/rules/common.smk"
include: "workflow/rules/recover.smk"


# A wrong config stops here, before any job, with one line naming the key: first spirl's checks
# (spirl.config.check_preset, exactly what `spirl check-config` runs), then the JSON Schema, which
# python -m spirl.config.schema writes from the same dataclass fields (so it never refuses what spirl accepts).
try:
    set_preset(load_workflow_preset(config))
    validate(config, "workflow/schemas/config.schema.yaml", set_default=False)
except (WorkflowError, ValueError) as err:
    sys.exit(config_error_line(err))


wildcard_constraints:
    game=alternatives(spirl_games.GAMES),
    seed=r"\d+",
    method=alternatives(PRESET.methods),
    mae=alternatives(PRESET.mae_variants),
    study=alternatives(PRESET.studies),
    name=alternatives(published_jsons()),


include: "workflow/rules/data.smk"
include: "workflow/rules/pretrain.smk"
include: "workflow/rules/saliency.smk"
include: "workflow/rules/train.smk"
include: "workflow/rules/aggregate.smk"
include: "workflow/rules/studies.smk"
include: "workflow/rules/report.smk"


report: "workflow/report/workflow.rst"


rule all:
    input:
        "reports/report.html",
    default_target: True
