from django.contrib.auth.models import Group, User
from django.core.management.base import BaseCommand
from oauth2_provider.models import Application

from tests.oidc_provider import PASSWORD

# (client id, secret, grant type): the portal itself; a command-line client whose tokens are also
# meant for the portal; and another service whose tokens are not.
CLIENTS = [
    ("portal", "portal-secret", Application.GRANT_AUTHORIZATION_CODE),
    ("portal-cli", "portal-cli-secret", Application.GRANT_PASSWORD),
    ("other-app", "other-app-secret", Application.GRANT_PASSWORD),
]
# Any port is allowed on a loopback IP (RFC 8252); ``testserver`` is Django's test client.
REDIRECTS = "http://testserver/oidc/callback/ http://127.0.0.1/oidc/callback/"
AFTER_LOGOUT = "http://testserver/accounts/login/ http://127.0.0.1/accounts/login/"


class Command(BaseCommand):
    help = "Create the provider's users (alice, bob, charlie) and its client applications."

    def handle(self, *args: object, **options: object) -> None:
        groups = {"alice": ["hr-owners", "portal-admins"], "bob": ["analysts"], "charlie": []}
        for username, names in groups.items():
            user = User.objects.create_user(
                username, email=f"{username}@example.org", password=PASSWORD,
                first_name=username.title(), last_name="Example",
            )
            user.groups.set([Group.objects.get_or_create(name=name)[0] for name in names])
        for client_id, secret, grant in CLIENTS:
            Application.objects.create(
                name=client_id, client_id=client_id, client_secret=secret,
                client_type=Application.CLIENT_CONFIDENTIAL, authorization_grant_type=grant,
                redirect_uris=REDIRECTS if grant == Application.GRANT_AUTHORIZATION_CODE else "",
                post_logout_redirect_uris=AFTER_LOGOUT, skip_authorization=True,
                algorithm=Application.RS256_ALGORITHM,
            )
