"""The exit statuses every command returns, apart from the entry point so that commands need not import it."""
from __future__ import annotations

EXIT_OK, EXIT_FAILED, EXIT_INVALID, EXIT_INTERRUPTED = 0, 1, 2, 130
