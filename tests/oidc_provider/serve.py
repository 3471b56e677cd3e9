"""Run the test identity provider: ``python -m tests.oidc_provider.serve <state dir>``.

Binds a free loopback port, migrates its own SQLite database in the state folder, creates its users
and clients, prints ``READY <issuer>`` and serves until it is terminated.
"""

import os
import sys
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa


def _write_key(path: Path) -> None:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    path.write_bytes(pem)


def main() -> None:
    state = Path(sys.argv[1])
    state.mkdir(parents=True, exist_ok=True)
    _write_key(state / "signing-key.pem")
    _write_key(state / "foreign-key.pem")

    from django.core.servers.basehttp import ThreadedWSGIServer, WSGIRequestHandler

    httpd = ThreadedWSGIServer(("127.0.0.1", 0), WSGIRequestHandler)
    port = httpd.server_address[1]
    issuer = f"http://127.0.0.1:{port}/o"
    for name in [n for n in os.environ if n.startswith("DJANGO_") or n == "DATABASE_URL"]:
        del os.environ[name]
    os.environ.update(
        DJANGO_SETTINGS_MODULE="tests.oidc_provider.settings", OIDC_PROVIDER_DIR=str(state),
        OIDC_PROVIDER_ISSUER=issuer,
    )
    import django
    from django.core.management import call_command
    from django.core.wsgi import get_wsgi_application

    django.setup()
    call_command("migrate", run_syncdb=True, verbosity=0)
    call_command("provider_setup")
    httpd.set_app(get_wsgi_application())
    print(f"READY {issuer}", flush=True)
    httpd.serve_forever()


if __name__ == "__main__":
    main()
