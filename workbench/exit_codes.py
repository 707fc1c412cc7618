"""What every workbench command exits with; one module that imports nothing, so any command can use it."""
from __future__ import annotations

EXIT_OK = 0
EXIT_FAILED = 1  # it ran, but part of it failed: unreadable files, a crash while training
EXIT_INVALID = 2  # input the user can fix: a config, a path, an option, a model file
EXIT_INTERRUPTED = 130  # Ctrl-C: 128 + SIGINT, as a shell reports it
EXIT_BROKEN_PIPE = 141  # the reader of stdout went away (`| head`): 128 + SIGPIPE, as a shell reports it
