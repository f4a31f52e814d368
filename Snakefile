# The SPIRL benchmark and ablation DAG (DESIGN.md sections 3-4):
# frames -> MAE per game -> K statistics -> SPIRL and baseline runs across seeds
# -> ablation studies -> scores table -> statistics, tables, figures, report.
#
#   snakemake --cores 2                                   the demonstration preset (default.yaml)
#   snakemake --cores 8 --configfile workflow/config/paper100k.yaml --profile workflow/profiles/default
#   snakemake --profile workflow/profiles/slurm --configfile workflow/config/paper100k.yaml

from snakemake.utils import min_version

min_version("9.0")


# A preset named with --configfile replaces the demonstration preset rather than being merged
# into it (a merge would leak the demo's shrunken budgets into a paper run).
# The path is absolute so that --directory elsewhere still finds it.
if not workflow.overwrite_configfiles:

    configfile: f"{workflow.basedir}/workflow/config/default.yaml"


# The preset is checked (a wrong one stops before any job, with one line naming the key) and
# resolved in common.smk; resources.smk holds the runtime and memory each job asks for.
include: "workflow/rules/common.smk"
include: "workflow/rules/resources.smk"


wildcard_constraints:
    game=wp.alternatives(spirl_games.GAMES),
    seed=r"\d+",
    method=wp.alternatives(PRESET.methods),
    mae=wp.alternatives(PRESET.mae_variants),
    study=wp.alternatives(PRESET.studies),
    name=wp.alternatives(wp.published_jsons(PRESET)),


include: "workflow/rules/data.smk"
include: "workflow/rules/pretrain.smk"
include: "workflow/rules/saliency.smk"
include: "workflow/rules/train.smk"
include: "workflow/rules/aggregate.smk"
include: "workflow/rules/studies.smk"
include: "workflow/rules/published.smk"
include: "workflow/rules/statistics.smk"
include: "workflow/rules/panels.smk"
include: "workflow/rules/report.smk"


report: "workflow/report/workflow.rst"


rule all:
    input:
        "reports/report.html",
    default_target: True
