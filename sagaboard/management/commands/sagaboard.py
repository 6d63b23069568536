"""`manage.py sagaboard export|import|validate|bootstrap|demo|serve|generate`."""

from __future__ import annotations

import json
import secrets
from argparse import ArgumentParser
from pathlib import Path
from typing import Any

import yaml
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError
from django.db import connections, transaction

from common.errors import Conflict, InvalidInput
from demo.loader import DEMO_WORKFLOWS, load_demo
from demo.traffic import Traffic, traffic_current
from designer import services
from designer.models import Version, Workflow
from designer.spec_text import SpecParseError, parse_spec_text
from sagaboard.generate import ROOT, generate
from sagaboard.management import demo_users
from sagaboard.standalone import serve

EXPORT_FORMAT = "sagaboard-export/v1"


def export_document(version: Version) -> dict[str, Any]:
    """A version with its workflow, as one document that `import` takes back."""
    workflow = version.workflow
    return {
        "export": EXPORT_FORMAT,
        "workflow": {
            "slug": workflow.slug,
            "name": workflow.name,
            "description": workflow.description,
            "required_approvals": workflow.required_approvals,
        },
        "version": {
            "number": version.number,
            "status": version.status,
            "note": version.note,
            "content_hash": version.content_hash,
        },
        "layout": version.layout,
        "spec": version.spec,
    }


def split_document(document: Any) -> tuple[dict[str, Any] | None, Any, dict[str, Any], str]:
    """(workflow fields or None, spec, layout, note) from an export or a bare spec."""
    if isinstance(document, dict) and document.get("export") == EXPORT_FORMAT:
        return (
            document.get("workflow") or None,
            document.get("spec"),
            document.get("layout") or {},
            (document.get("version") or {}).get("note", ""),
        )
    return None, document, {}, ""


class Command(BaseCommand):
    help = "Export, import and validate workflow definitions; bootstrap a fresh install."

    def add_arguments(self, parser: ArgumentParser) -> None:
        sub = parser.add_subparsers(dest="action", required=True)
        export = sub.add_parser("export", help="print a version as YAML or JSON")
        export.add_argument("slug")
        export.add_argument(
            "--version",
            type=int,
            dest="number",
            help="version number (default: published, else latest)",
        )
        export.add_argument("--format", choices=["yaml", "json"], default="yaml")
        export.add_argument("--output", "-o", help="write to this file instead of stdout")

        imp = sub.add_parser("import", help="create a draft from an exported file or a spec")
        imp.add_argument("file")
        imp.add_argument("--workflow", help="slug, needed when the file is a bare spec")
        imp.add_argument("--user", help="username recorded as the draft's author")

        validate = sub.add_parser("validate", help="check a spec file; exit 1 when invalid")
        validate.add_argument("file")

        sub.add_parser("bootstrap", help="create the first admin user, printing its password")
        demo = sub.add_parser(
            "demo", help="create the demo users and workflows; print the users' passwords"
        )
        demo.add_argument(
            "--reset-passwords",
            action="store_true",
            help="give the demo users new passwords (and lift their sign-in lockouts)",
        )
        serve = sub.add_parser(
            "serve",
            help="standalone: serve HTTP and WebSockets with an in-process worker and beat",
        )
        serve.add_argument("--host", default="127.0.0.1")
        serve.add_argument("--port", type=int, default=8000)
        serve.add_argument(
            "--setup",
            action="store_true",
            help="first migrate the database and create what is missing of the demo, in the "
            "same process (what make run does)",
        )
        generated = sub.add_parser(
            "generate", help="write the files generated from the code (schema, front-end types)"
        )
        generated.add_argument(
            "--check", action="store_true", help="write nothing; exit 1 naming what is stale"
        )

    def do_generate(self, *, check: bool, **_: Any) -> None:
        stale = generate(check=check)
        for path in stale:
            self.stdout.write(f"{'stale' if check else 'wrote'}: {path.relative_to(ROOT)}")
        if check and stale:
            raise CommandError(
                "Generated files are stale: run `manage.py sagaboard generate`.", returncode=1
            )

    def handle(self, *args: Any, **options: Any) -> None:
        action = options["action"]
        getattr(self, f"do_{action}")(**options)

    # export

    def do_export(
        self, *, slug: str, number: int | None, format: str, output: str | None, **_: Any
    ) -> None:
        try:
            workflow = Workflow.objects.get(slug=slug)
        except Workflow.DoesNotExist:
            raise CommandError(f"No workflow {slug!r}.") from None
        versions = workflow.versions.order_by("-number")
        version = (
            versions.filter(number=number).first()
            if number is not None
            else workflow.published_version or versions.first()
        )
        if version is None:
            raise CommandError(f"Workflow {slug!r} has no version {number or ''}".strip() + ".")
        document = export_document(version)
        if format == "json":
            text = json.dumps(document, indent=2, ensure_ascii=False) + "\n"
        else:
            text = yaml.safe_dump(document, sort_keys=False, allow_unicode=True)
        if output:
            Path(output).write_text(text)
            self.stderr.write(f"Wrote {slug} v{version.number} to {output}")
        else:
            self.stdout.write(text, ending="")

    # import and validate

    def _read(self, file: str) -> Any:
        try:
            text = Path(file).read_text()
        except OSError as exc:
            raise CommandError(f"Cannot read {file}: {exc.strerror}") from None
        try:
            return parse_spec_text(text)
        except SpecParseError as exc:
            raise CommandError(f"{file}: {exc}") from None

    def _print_issues(self, label: str, issues: Any, style: Any) -> None:
        for issue in issues:
            where = ".".join(str(p) for p in (issue.step, issue.field) if p) or "spec"
            self.stdout.write(style(f"{label}: {where}: {issue.message}"))

    def do_validate(self, *, file: str, **_: Any) -> None:
        spec = split_document(self._read(file))[1]
        result = services.spec_validate(spec)
        self._print_issues("error", result.errors, self.style.ERROR)
        self._print_issues("warning", result.warnings, self.style.WARNING)
        if not result.valid:
            raise CommandError(f"{file} is invalid: {len(result.errors)} error(s).", returncode=1)
        self.stdout.write(self.style.SUCCESS(f"{file} is valid."))

    @transaction.atomic
    def do_import(self, *, file: str, workflow: str | None, user: str | None, **_: Any) -> None:
        found, spec, layout, note = split_document(self._read(file))
        fields: dict[str, Any] = found or {}
        author = None
        if user:
            try:
                author = get_user_model().objects.get_by_natural_key(user)
            except get_user_model().DoesNotExist:
                raise CommandError(f"No user {user!r}.") from None
        slug = workflow or fields.get("slug")
        if not slug:
            raise CommandError("The file is a bare spec: say which workflow with --workflow SLUG.")
        target = Workflow.objects.filter(slug=slug).first()
        try:
            if target is None:
                if author is None:
                    raise CommandError(f"No workflow {slug!r}; name a --user to create it.")
                target = services.workflow_create(
                    by=author,
                    slug=slug,
                    name=fields.get("name") or slug,
                    description=fields.get("description") or "",
                    required_approvals=int(fields.get("required_approvals") or 1),
                )
            version, result = services.version_create(
                workflow=target,
                by=author,
                spec=spec,
                layout=layout,
                note=note or f"Imported from {Path(file).name}",
            )
        except InvalidInput as exc:
            for error in exc.errors:
                where = ".".join(str(error[k]) for k in ("step", "field") if error.get(k))
                self.stdout.write(self.style.ERROR(f"error: {where or 'spec'}: {error['message']}"))
            raise CommandError(exc.detail, returncode=1) from None
        except Conflict as exc:
            raise CommandError(str(exc)) from None
        self._print_issues("warning", result.warnings, self.style.WARNING)
        self.stdout.write(self.style.SUCCESS(f"Created draft {slug} v{version.number}."))

    # bootstrap

    def do_bootstrap(self, **_: Any) -> None:
        users = get_user_model()
        if users.objects.filter(is_superuser=True).exists():
            self.stdout.write("An admin user exists already; sign in at http://127.0.0.1:8000/")
            return
        password = secrets.token_urlsafe(12)
        users.objects.create_superuser("admin", "admin@example.com", password)
        self.stdout.write(
            self.style.SUCCESS(
                "Created the admin user. Sign in at http://127.0.0.1:8000/ with\n"
                f"    username: admin\n    password: {password}\n"
                "(shown once; change it in the admin)."
            )
        )

    # demo

    def do_demo(self, *, reset_passwords: bool = False, **_: Any) -> None:
        created = load_demo()
        demo_users.keep(created)
        reset = demo_users.reset_passwords(skip=created) if reset_passwords else {}
        if created:
            kept = demo_users.keeping()
            self.stdout.write(
                self.style.SUCCESS(
                    "Created the demo users"
                    + (" (shown again at each start):" if kept else " (passwords shown once):")
                )
            )
        elif reset:
            self.stdout.write(self.style.SUCCESS("The demo users exist already; new passwords:"))
        else:
            self.stdout.write("The demo users exist already:")
        passwords = {**demo_users.known(), **created, **reset}
        for name, password in passwords.items():
            self.stdout.write(f"    {name:<10} {password or NOT_KEPT}")
        slugs = ", ".join(slug for slug, _, _ in DEMO_WORKFLOWS)
        self.stdout.write(f"Demo workflows: {slugs}")

    # serve

    def do_serve(self, *, host: str, port: int, setup: bool = False, **_: Any) -> None:
        if setup:
            # One process rather than three: each start of Django costs seconds of CPU.
            call_command("migrate", interactive=False, verbosity=0)
            created = load_demo()
            demo_users.keep(created)
            if created:
                self.stdout.write("Created the demo users and workflows.")
            connections.close_all()
        banner = ready_banner(f"http://{host}:{port}/", demo_users.known(), traffic_current())

        def ready() -> None:
            self.stdout.write(banner)
            self.stdout.flush()

        serve(host=host, port=port, on_ready=ready)


#: Said of a demo user whose password this installation does not know (anymore).
NOT_KEPT = "(password not kept here: `manage.py sagaboard demo --reset-passwords`)"


def ready_banner(url: str, passwords: dict[str, str | None], traffic: Traffic) -> str:
    """What a one-process start says once it answers: where, who may sign in, how to stop."""
    lines = [f"Sagaboard is up on {url}", ""]
    if passwords:
        lines.append("Sign in as a demo user:")
        lines += [f"    {name:<10} {password or NOT_KEPT}" for name, password in passwords.items()]
        lines.append("")
    if traffic.enabled and traffic.rate_per_min > 0:
        lines.append(
            f"Demo traffic: {traffic.rate_per_min:g} runs/min, {traffic.fail_rate:.0%} "
            f"compensated; change it at {url}demo/"
        )
    else:
        lines.append(f"Demo traffic: off; switch it on at {url}demo/")
    lines.append("Ctrl-C stops it; the next start keeps the data.")
    width = max(len(line) for line in lines)
    rule = "+" + "-" * (width + 2) + "+"
    return "\n".join([rule, *(f"| {line:<{width}} |" for line in lines), rule])
