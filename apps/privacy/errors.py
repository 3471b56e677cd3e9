from apps.core.errors import ApplicationError, Forbidden


class BudgetExhausted(ApplicationError):
    status_code = 403
    code = "budget_exhausted"


class AccessDenied(Forbidden):
    code = "access_denied"


class PolicyExpired(Forbidden):
    code = "policy_expired"
