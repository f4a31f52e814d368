"""Analysis of finished runs: tidy scores, rliable statistics, verdicts, paper tables, figures and the report.

Everything here reads files (and the game table); nothing imports torch or the RL code.
"""
