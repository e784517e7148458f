"""``python -m gdlab.cli``: the ``gdlab`` command."""

import sys

from gdlab.cli.main import main

sys.exit(main())
