"""The recorder of the replay corpus uses the engine tests' real worker."""

from tests.engine.conftest import broker, operator, shared_worker, worker  # noqa: F401
