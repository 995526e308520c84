"""How a command ends: its exit status and what the user sees on failure."""

from __future__ import annotations

import sys

# Errors that come from what the user asked for: reported in one line, not a traceback.
USER_ERRORS = (ValueError, TypeError, RuntimeError, FileNotFoundError, ImportError)


def run_command(args) -> int:
    """Run a parsed subcommand, turning user errors into exit status 2."""
    try:
        return args.func(args)
    except USER_ERRORS as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # e.g. `openclrs list | head`
        sys.stderr.close()
        return 0
    except KeyboardInterrupt:
        print("interrupted; run the same command again to resume", file=sys.stderr)
        return 130
