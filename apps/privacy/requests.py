"""Access requests: an analyst asks, an owner or admin approves (with the amounts they choose) or
denies. Both sides get an email once the decision is committed."""

from typing import Any

from django.conf import settings
from django.core.mail import send_mail
from django.db import transaction
from django.utils import timezone

from apps.accounts.models import User
from apps.catalog.models import Dataset
from apps.core.errors import ApplicationError, Conflict
from apps.domains.permissions import ensure_can_manage_policies, ensure_can_view
from apps.privacy.models import AccessRequest, Policy
from apps.privacy.services import policy_save
from apps.privacy.validation import parse_delta, parse_epsilon, parse_mode
from apps.usage.services import audit_record

MAX_REASON = 5000


def _notify(*, subject: str, body: str, recipients: list[str]) -> None:
    addresses = sorted({address for address in recipients if address})
    if addresses:
        transaction.on_commit(
            lambda: send_mail(subject, body, settings.DEFAULT_FROM_EMAIL, addresses, fail_silently=True)
        )


def _deciders(dataset: Dataset) -> list[str]:
    owners = list(dataset.domain.owners.values_list("email", flat=True))
    if dataset.product_id:
        owners += list(dataset.product.owners.values_list("email", flat=True))
    return owners or list(User.objects.filter(is_superuser=True, is_active=True).values_list("email", flat=True))


@transaction.atomic
def access_request_create(
    *,
    actor: User,
    dataset: Dataset,
    access_mode: Any,
    epsilon: Any,
    delta: Any = "0",
    reason: Any,
    request_id: str = "",
) -> AccessRequest:
    ensure_can_view(actor, dataset)
    if not isinstance(reason, str) or not reason.strip() or len(reason) > MAX_REASON or "\x00" in reason:
        raise ApplicationError(f"Give a reason (at most {MAX_REASON} characters).", field="reason")
    if AccessRequest.objects.filter(requester=actor, dataset=dataset, status=AccessRequest.Status.PENDING).exists():
        raise Conflict(f"You already have a pending request on {dataset.address}.")
    request = AccessRequest.objects.create(
        requester=actor,
        dataset=dataset,
        access_mode=parse_mode(access_mode),
        epsilon=parse_epsilon(epsilon),
        delta=parse_delta(delta),
        reason=reason.strip(),
    )
    audit_record(
        actor=actor,
        action="access_request.create",
        obj=request,
        request_id=request_id,
        details={
            "dataset": dataset.address,
            "access_mode": request.access_mode,
            "epsilon": str(request.epsilon),
            "delta": str(request.delta),
        },
    )
    _notify(
        subject=f"Access request on {dataset.address}",
        body=f"{actor.username} asks for {request.get_access_mode_display()} with epsilon {request.epsilon} "
        f"on {dataset.address}.\n\nReason: {request.reason}",
        recipients=_deciders(dataset),
    )
    return request


def _pending(request: AccessRequest) -> AccessRequest:
    locked = AccessRequest.objects.select_for_update().select_related("dataset__domain", "requester").get(pk=request.pk)
    if locked.status != AccessRequest.Status.PENDING:
        raise Conflict(f"This request is already {locked.get_status_display().lower()}.")
    return locked


def _comment(comment: Any) -> str:
    if not isinstance(comment, str) or len(comment) > MAX_REASON or "\x00" in comment:
        raise ApplicationError(f"The comment must be text of at most {MAX_REASON} characters.", field="comment")
    return comment.strip()


@transaction.atomic
def access_request_approve(
    *,
    actor: User,
    request: AccessRequest,
    access_mode: Any = None,
    epsilon_budget: Any = None,
    delta_budget: Any = None,
    epsilon_per_release_cap: Any = None,
    allowed_mechanisms: Any = None,
    expires_at: Any = None,
    comment: Any = "",
    request_id: str = "",
) -> AccessRequest:
    """Approve, creating or updating the requester's own policy on the dataset with the amounts the
    decider chooses (the requested ones by default)."""
    ensure_can_manage_policies(actor, request.dataset)
    request = _pending(request)
    current = Policy.objects.filter(user=request.requester, dataset=request.dataset).first()
    policy = policy_save(
        actor=actor,
        scope=request.dataset,
        user=request.requester,
        access_mode=access_mode or request.access_mode,
        epsilon_budget=request.epsilon if epsilon_budget in (None, "") else epsilon_budget,
        delta_budget=request.delta if delta_budget in (None, "") else delta_budget,
        epsilon_per_release_cap=(
            current.epsilon_per_release_cap if current and epsilon_per_release_cap is None else epsilon_per_release_cap
        ),
        allowed_mechanisms=(
            allowed_mechanisms if allowed_mechanisms is not None else (current.allowed_mechanisms if current else None)
        ),
        expires_at=current.expires_at if current and expires_at is None else expires_at,
        request_id=request_id,
    )
    request.status = AccessRequest.Status.APPROVED
    request.decided_by, request.decided_at = actor, timezone.now()
    request.decision_comment, request.policy = _comment(comment), policy
    request.save()
    audit_record(
        actor=actor,
        action="access_request.approve",
        obj=request,
        request_id=request_id,
        details={
            "policy": policy.pk,
            "epsilon_budget": str(policy.epsilon_budget),
            "delta_budget": str(policy.delta_budget),
            "access_mode": policy.access_mode,
        },
    )
    _notify(
        subject=f"Access request on {request.dataset.address} approved",
        body=f"{actor.username} approved {request.requester.username}'s request: "
        f"{policy.get_access_mode_display()}, epsilon budget {policy.epsilon_budget}.\n\n{request.decision_comment}",
        recipients=[request.requester.email, actor.email],
    )
    return request


@transaction.atomic
def access_request_deny(
    *, actor: User, request: AccessRequest, comment: Any = "", request_id: str = ""
) -> AccessRequest:
    ensure_can_manage_policies(actor, request.dataset)
    request = _pending(request)
    request.status = AccessRequest.Status.DENIED
    request.decided_by, request.decided_at, request.decision_comment = actor, timezone.now(), _comment(comment)
    request.save()
    audit_record(actor=actor, action="access_request.deny", obj=request, request_id=request_id)
    _notify(
        subject=f"Access request on {request.dataset.address} denied",
        body=f"{actor.username} denied {request.requester.username}'s request.\n\n{request.decision_comment}",
        recipients=[request.requester.email, actor.email],
    )
    return request


@transaction.atomic
def access_request_withdraw(*, actor: User, request: AccessRequest, request_id: str = "") -> AccessRequest:
    if request.requester_id != actor.pk:
        raise ApplicationError("Only the requester can withdraw a request.")
    request = _pending(request)
    request.status = AccessRequest.Status.WITHDRAWN
    request.decided_at = timezone.now()
    request.save()
    audit_record(actor=actor, action="access_request.withdraw", obj=request, request_id=request_id)
    return request
