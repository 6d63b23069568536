"""The demo participants as task activities."""

from __future__ import annotations

from typing import Any

from common.activities import ActivityInput, PermanentError, RetryableError, activity
from demo.participants import OPERATIONS, ParticipantError, perform


def _as_activity(operation: str) -> None:
    def run(inp: ActivityInput) -> dict[str, Any]:
        try:
            return perform(
                operation,
                idempotency_key=inp.idempotency_key,
                run_id=inp.run_id,
                step_id=inp.step_id,
                args=dict(inp.args),
            )
        except ParticipantError as exc:
            raise (RetryableError if exc.retryable else PermanentError)(str(exc)) from exc

    description = OPERATIONS[operation][0]
    activity(operation, description=description, side_effects=operation != "demo.noop")(run)


for _operation in OPERATIONS:
    _as_activity(_operation)
