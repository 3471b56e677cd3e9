#!/usr/bin/env python
import os
import sys


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")
    if "DJANGO_SECRET_KEY" not in os.environ:
        # A checkout with no configuration at all is a developer's: let `manage.py check` and
        # friends run. Any configured environment (a secret key set) keeps DEBUG off by default.
        os.environ.setdefault("DJANGO_DEBUG", "1")
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)


if __name__ == "__main__":
    main()
