"""`python -m audiohook_serverent`: the `audiohook-client` command, for when the script is not on PATH."""

import sys

from audiohook_server.client.cli import main

sys.exit(main())
