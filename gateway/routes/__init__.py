"""One router per resource: analysis, and the operational endpoints."""
