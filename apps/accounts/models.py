from django.contrib.auth.models import AbstractUser
from django.db import models


class User(AbstractUser):
    """A person. Roles: superusers are admins; domain owners are named on their domains;
    analysts belong to groups that policies grant access to."""

    display_name = models.CharField(max_length=150, blank=True)

    def __str__(self) -> str:
        return self.display_name or self.username
