from django.conf import settings
from django.contrib.auth.models import Group
from django.db import models
from django.db.models import F, Q

from apps.catalog.models import DataProduct, Dataset
from apps.domains.models import Domain

EPSILON_FIELD = {"max_digits": 24, "decimal_places": 12}
DELTA_FIELD = {"max_digits": 24, "decimal_places": 18}


class AccessMode(models.TextChoices):
    NONE = "none", "No access"
    SYNTHETIC = "synthetic", "Synthetic data only"
    DP = "dp", "DP queries and synthetic data"
    RAW = "raw", "Raw rows"


class Mechanism(models.TextChoices):
    LAPLACE = "laplace", "Laplace (pure DP)"
    GAUSSIAN = "gaussian", "Gaussian (zCDP)"
    SYNTHESIZER = "synthesizer", "DP synthesizers"


def _exactly_one(*fields: str) -> Q:
    rule = Q()
    for chosen in fields:
        clause = Q(**{f"{chosen}__isnull": False})
        for other in fields:
            if other != chosen:
                clause &= Q(**{f"{other}__isnull": True})
        rule |= clause
    return rule


class Policy(models.Model):
    """What one user or group may do with a dataset, a product's datasets or a domain's datasets.

    The most specific scope wins (dataset, then product, then domain); at one scope a user's own
    policy wins over a group's. Budgets are per user and per dataset: a domain-wide policy gives each
    user that budget on each dataset of the domain.
    """

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.CASCADE, related_name="privacy_policies"
    )
    group = models.ForeignKey(Group, null=True, blank=True, on_delete=models.CASCADE, related_name="privacy_policies")
    domain = models.ForeignKey(Domain, null=True, blank=True, on_delete=models.CASCADE, related_name="policies")
    product = models.ForeignKey(DataProduct, null=True, blank=True, on_delete=models.CASCADE, related_name="policies")
    dataset = models.ForeignKey(Dataset, null=True, blank=True, on_delete=models.CASCADE, related_name="policies")
    access_mode = models.CharField(max_length=16, choices=AccessMode.choices, default=AccessMode.DP)
    epsilon_budget = models.DecimalField(**EPSILON_FIELD)
    delta_budget = models.DecimalField(**DELTA_FIELD, default=0)
    epsilon_per_release_cap = models.DecimalField(**EPSILON_FIELD, null=True, blank=True)
    allowed_mechanisms = models.JSONField(default=list, blank=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-updated_at", "-id"]
        constraints = [
            models.CheckConstraint(condition=_exactly_one("user", "group"), name="policy_one_subject"),
            models.CheckConstraint(condition=_exactly_one("domain", "product", "dataset"), name="policy_one_scope"),
            models.CheckConstraint(condition=Q(epsilon_budget__gte=0), name="policy_epsilon_budget_non_negative"),
            models.CheckConstraint(
                condition=Q(delta_budget__gte=0, delta_budget__lt=1), name="policy_delta_budget_range"
            ),
            models.CheckConstraint(
                condition=Q(epsilon_per_release_cap__isnull=True) | Q(epsilon_per_release_cap__gt=0),
                name="policy_cap_positive",
            ),
            *[
                models.UniqueConstraint(
                    fields=[subject, scope],
                    condition=Q(**{f"{subject}__isnull": False, f"{scope}__isnull": False}),
                    name=f"policy_unique_{subject}_{scope}",
                )
                for subject in ("user", "group")
                for scope in ("domain", "product", "dataset")
            ],
        ]

    def __str__(self) -> str:
        subject = self.user or (f"group {self.group}" if self.group else "?")
        scope = self.dataset or self.product or self.domain
        return f"{subject} on {scope}: {self.get_access_mode_display()}"

    @property
    def subject_label(self) -> str:
        return self.user.username if self.user_id else f"group:{self.group.name}"

    @property
    def scope_label(self) -> str:
        if self.dataset_id:
            return self.dataset.address
        if self.product_id:
            return f"product {self.product.domain.slug}/{self.product.slug}"
        return f"domain {self.domain.slug}"


class DatasetBudget(models.Model):
    """The total privacy loss the owner accepts on a confidential dataset, across all users."""

    dataset = models.OneToOneField(Dataset, on_delete=models.CASCADE, related_name="privacy_budget")
    epsilon_limit = models.DecimalField(**EPSILON_FIELD)
    delta_limit = models.DecimalField(**DELTA_FIELD, default=0)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.CheckConstraint(condition=Q(epsilon_limit__gte=0), name="dataset_budget_epsilon_non_negative"),
            models.CheckConstraint(
                condition=Q(delta_limit__gte=0, delta_limit__lt=1), name="dataset_budget_delta_range"
            ),
        ]

    def __str__(self) -> str:
        return f"budget of {self.dataset}"


class BudgetAccount(models.Model):
    """Running totals of one user on one dataset, or of a dataset in total (``user`` empty).

    ``spent_*`` are committed charges, ``reserved_*`` charges of releases still running; the
    ``*_total`` columns compose both (see ``apps.privacy.composition``) and the database refuses
    any row whose totals exceed its limits, whatever the code above it does.
    """

    dataset = models.ForeignKey(Dataset, on_delete=models.PROTECT, related_name="budget_accounts")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="budget_accounts"
    )
    epsilon_limit = models.DecimalField(**EPSILON_FIELD, default=0)
    delta_limit = models.DecimalField(**DELTA_FIELD, default=0)
    spent_epsilon = models.DecimalField(**EPSILON_FIELD, default=0)
    spent_delta = models.DecimalField(**DELTA_FIELD, default=0)
    spent_rho = models.DecimalField(**EPSILON_FIELD, default=0)
    reserved_epsilon = models.DecimalField(**EPSILON_FIELD, default=0)
    reserved_delta = models.DecimalField(**DELTA_FIELD, default=0)
    reserved_rho = models.DecimalField(**EPSILON_FIELD, default=0)
    epsilon_total = models.DecimalField(**EPSILON_FIELD, default=0)
    delta_total = models.DecimalField(**DELTA_FIELD, default=0)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["dataset", "user"],
                condition=Q(user__isnull=False),
                name="budget_account_one_per_user_and_dataset",
            ),
            models.UniqueConstraint(
                fields=["dataset"], condition=Q(user__isnull=True), name="budget_account_one_total_per_dataset"
            ),
            models.CheckConstraint(
                condition=Q(epsilon_total__lte=F("epsilon_limit")), name="budget_epsilon_within_limit"
            ),
            models.CheckConstraint(condition=Q(delta_total__lte=F("delta_limit")), name="budget_delta_within_limit"),
            models.CheckConstraint(
                condition=Q(
                    spent_epsilon__gte=0,
                    spent_delta__gte=0,
                    spent_rho__gte=0,
                    reserved_epsilon__gte=0,
                    reserved_delta__gte=0,
                    reserved_rho__gte=0,
                ),
                name="budget_amounts_non_negative",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.user or 'all users'} on {self.dataset}"


class LedgerEntry(models.Model):
    """Append-only: a reservation, then exactly one commit or release of it."""

    class Kind(models.TextChoices):
        RESERVE = "reserve"
        COMMIT = "commit"
        RELEASE = "release"

    kind = models.CharField(max_length=8, choices=Kind.choices)
    reservation = models.ForeignKey("self", null=True, blank=True, on_delete=models.PROTECT, related_name="endings")
    dataset = models.ForeignKey(Dataset, on_delete=models.PROTECT, related_name="ledger_entries")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="ledger_entries")
    mechanism = models.CharField(max_length=16, choices=Mechanism.choices)
    epsilon = models.DecimalField(**EPSILON_FIELD, default=0)
    delta = models.DecimalField(**DELTA_FIELD, default=0)
    rho = models.DecimalField(**EPSILON_FIELD, default=0)
    reference = models.CharField(max_length=200, blank=True, help_text="The job or release this pays for.")
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["created_at", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["reservation"], condition=Q(reservation__isnull=False), name="ledger_one_ending_per_reservation"
            ),
            models.CheckConstraint(
                condition=(
                    Q(kind="reserve", reservation__isnull=True) | ~Q(kind="reserve") & Q(reservation__isnull=False)
                ),
                name="ledger_endings_name_their_reservation",
            ),
            models.CheckConstraint(
                condition=Q(epsilon__gte=0, delta__gte=0, rho__gte=0), name="ledger_amounts_non_negative"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.pk} by {self.user_id} on {self.dataset_id}"


class AccessRequest(models.Model):
    """An analyst asks for access, or for more budget, on a dataset; an owner or admin decides."""

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        APPROVED = "approved", "Approved"
        DENIED = "denied", "Denied"
        WITHDRAWN = "withdrawn", "Withdrawn"

    requester = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="access_requests")
    dataset = models.ForeignKey(Dataset, on_delete=models.CASCADE, related_name="access_requests")
    access_mode = models.CharField(max_length=16, choices=AccessMode.choices, default=AccessMode.DP)
    epsilon = models.DecimalField(**EPSILON_FIELD, help_text="The epsilon budget asked for.")
    delta = models.DecimalField(**DELTA_FIELD, default=0)
    reason = models.TextField()
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING, db_index=True)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    decision_comment = models.TextField(blank=True)
    policy = models.ForeignKey(Policy, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    decided_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["requester", "dataset"],
                condition=Q(status="pending"),
                name="access_request_one_pending_per_dataset",
            ),
            models.CheckConstraint(
                condition=Q(epsilon__gte=0, delta__gte=0, delta__lt=1), name="access_request_amounts"
            ),
        ]

    def __str__(self) -> str:
        return f"request by {self.requester} on {self.dataset} ({self.status})"
