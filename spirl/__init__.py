"""SPIRL benchmark and ablation harness.

Salient patch selection with a pretrained masked autoencoder (Jiang & Weng,
ECML-PKDD 2023), its Rainbow agents, and the workflow that reproduces the
paper's tables and plots.
"""

__version__ = "0.1.0"
