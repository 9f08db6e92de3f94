"""``python -m casualty_models.cli``."""

import sys

from . import main

sys.exit(main())
