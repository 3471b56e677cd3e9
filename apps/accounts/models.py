from django.contrib.auth.models import AbstractUser
from django.db import models


class User(AbstractUser):
    """A person. Roles: superusers are admins; domain owners are named on their domains;
    analysts belong to groups that policies grant access to."""

    display_name = models.CharField(max_length=150, blank=True)

    def __str__(self) -> str:
        return self.display_name or self.username


class OIDCIdentity(models.Model):
    """A person at an identity provider, keyed by the provider's ``iss`` and ``sub`` claims (never
    by email, which a provider may let people change or reuse). ``groups`` are the portal groups the
    provider granted at the last login, so the next login removes exactly those it no longer grants."""

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="oidc_identities")
    issuer = models.CharField(max_length=255)
    subject = models.CharField(max_length=255)
    groups = models.JSONField(default=list, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    last_login_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["issuer", "subject"], name="oidc_identity_unique_iss_sub")]

    def __str__(self) -> str:
        return f"{self.subject} at {self.issuer}"


class LoginFailure(models.Model):
    """A failed password log-in, counted per username and address to refuse guessing."""

    username = models.CharField(max_length=150)
    address = models.GenericIPAddressField(null=True, blank=True)
    occurred_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        indexes = [models.Index(fields=["username", "address", "occurred_at"])]

    def __str__(self) -> str:
        return f"{self.username} from {self.address} at {self.occurred_at:%Y-%m-%d %H:%M:%S}"
