import pathlib
import sys

import pytest

REPO = pathlib.Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "examples" / "python"))


@pytest.fixture
def repo() -> pathlib.Path:
    return REPO
