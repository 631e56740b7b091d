"""``python -m flows.cli``: the ``forecast`` command."""

import sys

from flows.cli import main

sys.exit(main())
