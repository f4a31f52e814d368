"""Salient patch selection: error maps, dynamic / fixed / random K, features for RL, K statistics, pictures."""
