"""Test setup. TRITON_INTERPRET must be set before anything imports triton, so Triton kernels run on CPU."""

import os

os.environ.setdefault("TRITON_INTERPRET", "1")
os.environ.setdefault("NUMBA_CACHE_DIR", os.path.join(os.path.dirname(__file__), "..", ".numba_cache"))

from pathlib import Path  # noqa: E402

import pytest  # noqa: E402

AUTHORS = Path(__file__).resolve().parents[1].parent / "shared" / "authors"


@pytest.fixture(scope="session")
def authors_dir() -> Path:
    """``../shared/authors`` (the original release's files); tests using it skip when it is absent."""
    if not AUTHORS.is_dir():
        pytest.skip(f"authors' files not found at {AUTHORS}")
    return AUTHORS
