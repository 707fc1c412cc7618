"""The subcommands: each module here is one, named like the command (`export_code.py` is `workbench export-code`).

A command module declares `USAGE` (its arguments, for `workbench --help`'s list), `SUMMARY` (one
line, there and atop its own --help), `add_arguments(parser)` and `run(args) -> int` (an exit code
from workbench.exit_codes). workbench.cli finds them by listing this package, so adding a command is
adding its module. They are all imported for `workbench --help`: anything heavy (torch) is imported
inside `run`.
"""
