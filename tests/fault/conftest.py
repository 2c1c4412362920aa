"""The fault suite imports the integration world's object builders and the e2e suite's
controller settings, so that every suite describes a world the same way."""

from __future__ import annotations

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
for folder in (HERE, HERE.parent / "integration", HERE.parents[1] / "e2e"):
    if str(folder) not in sys.path:
        sys.path.insert(0, str(folder))
