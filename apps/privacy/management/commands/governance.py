from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from apps.core.errors import ApplicationError
from apps.privacy.governance import (
    GovernanceError,
    format_outcome,
    governance_actor,
    governance_apply,
    governance_export,
    governance_plan,
)


class Command(BaseCommand):
    help = (
        "Governance as code (docs/governance.md). `plan FILE.yaml` prints what would change, `apply FILE.yaml` "
        "applies it in one transaction, `export [FILE]` writes the current state as YAML."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("action", choices=["plan", "apply", "export"])
        parser.add_argument("file", nargs="?", help="The YAML file (export: default standard output).")
        parser.add_argument("--actor", help="Username the changes are made as (default: the first active superuser).")
        parser.add_argument(
            "--prune", action="store_true", help="Also revoke the policies on the file's domains that it does not name."
        )

    def handle(self, *args: Any, action: str, file: str | None, actor: str | None, prune: bool, **options: Any) -> None:
        try:
            user = governance_actor(actor)
        except ApplicationError as exc:
            raise CommandError(exc.message) from None
        if action == "export":
            text = governance_export(actor=user)
            if file and file != "-":
                Path(file).write_text(text, encoding="utf-8")
                self.stdout.write(f"Wrote {file}.")
            else:
                self.stdout.write(text, ending="")
            return
        if not file:
            raise CommandError(f"governance {action} needs a FILE.yaml.")
        try:
            text = Path(file).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise CommandError(f"{file}: cannot read it ({exc.__class__.__name__}).") from None
        run = governance_apply if action == "apply" else governance_plan
        try:
            outcome = run(text=text, actor=user, prune=prune)
        except GovernanceError as exc:
            for problem in exc.problems:
                self.stderr.write(
                    f"{file}:{problem.line}: {problem.message}" if problem.line else f"{file}: {problem.message}"
                )
            count = len(exc.problems)
            raise CommandError(f"{count} problem{'s' if count > 1 else ''} in {file}: nothing was changed.") from None
        self.stdout.write(format_outcome(outcome))
