"""The ``spirl`` commands, one module per command (or per group of commands on one subject).

Each module defines ``configure_<command>(parser)``, which adds the command's arguments and sets
``func``, the function run with the parsed arguments; that function calls the domain modules
(spirl.atari, spirl.mae, spirl.saliency, spirl.rl, spirl.analysis, spirl.bench), none of which
reads a command line. :mod:`spirl.commands.args` holds the conventions every command shares.
"""
