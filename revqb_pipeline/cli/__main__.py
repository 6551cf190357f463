"""``python -m revqb_pipeline.cli``: the same as the ``revqb`` entry point."""

import sys

from revqb_pipeline.cli import main

sys.exit(main())
