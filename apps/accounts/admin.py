from django.contrib import admin
from django.contrib.auth.admin import UserAdmin

from apps.accounts.models import OIDCIdentity, User

admin.site.register(User, UserAdmin)


@admin.register(OIDCIdentity)
class OIDCIdentityAdmin(admin.ModelAdmin):
    """Who a person is at the identity provider. Read-only: sign-ins create and update these."""

    list_display = ("user", "issuer", "subject", "last_login_at")
    search_fields = ("user__username", "subject")
    readonly_fields = ("user", "issuer", "subject", "groups", "created_at", "last_login_at")

    def has_add_permission(self, request: object) -> bool:
        return False
