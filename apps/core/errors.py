"""The application's errors. One handler (``apps.core.api``) turns them into HTTP answers.

Messages name the problem; they never carry a data value.
"""


class ApplicationError(Exception):
    status_code = 400
    code = "invalid"

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field


class NotFound(ApplicationError):
    status_code = 404
    code = "not_found"


class Forbidden(ApplicationError):
    status_code = 403
    code = "forbidden"


class Conflict(ApplicationError):
    status_code = 409
    code = "conflict"


class BackendUnavailable(ApplicationError):
    """A registered backend could not be reached or refused the connection."""

    status_code = 400
    code = "backend_unavailable"
