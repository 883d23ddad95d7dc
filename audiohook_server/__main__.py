"""`python -m audiohook_server`: the `audiohook-server` command, for when the script is not on PATH."""

import sys

from audiohook_server.server.cli import main

sys.exit(main())
