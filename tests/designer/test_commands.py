"""`manage.py sagaboard export | import | validate | bootstrap`."""

from __future__ import annotations

import json

import pytest
import yaml
from django.contrib.auth.models import User
from django.core.management import CommandError, call_command

from designer.diff import diff_is_empty, spec_diff
from designer.models import Version, Workflow
from tests.factories import UserFactory, make_published, make_workflow

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("fmt", ["yaml", "json"])
def test_export_import_round_trip_has_empty_diff(tmp_path, capsys, fmt, spec):
    workflow = make_workflow("orders")
    published = make_published(workflow, spec)
    Version.objects.filter(pk=published.pk).update(layout={"reserve": {"x": 1, "y": 2}})

    path = tmp_path / f"orders.{fmt}"
    call_command("sagaboard", "export", "orders", "--format", fmt, "--output", str(path))
    text = path.read_text()
    document = yaml.safe_load(text) if fmt == "yaml" else json.loads(text)
    assert document["spec"] == spec and document["workflow"]["slug"] == "orders"

    call_command("sagaboard", "import", str(path))
    imported = workflow.versions.get(number=2)
    assert imported.status == "draft"
    assert imported.layout == {"reserve": {"x": 1, "y": 2}}
    assert imported.content_hash == published.content_hash
    assert diff_is_empty(spec_diff(published.spec, imported.spec))


def test_export_specific_version_to_stdout(capsys, spec):
    workflow = make_workflow("orders")
    make_published(workflow, spec)
    call_command("sagaboard", "export", "orders", "--version", "1", "--format", "json")
    assert json.loads(capsys.readouterr().out)["version"]["number"] == 1
    with pytest.raises(CommandError, match="no version"):
        call_command("sagaboard", "export", "orders", "--version", "7")
    with pytest.raises(CommandError, match="No workflow"):
        call_command("sagaboard", "export", "nope")


def test_import_creates_the_workflow_from_an_export(tmp_path, spec):
    workflow = make_workflow("orders")
    make_published(workflow, spec)
    path = tmp_path / "orders.yaml"
    call_command("sagaboard", "export", "orders", "--output", str(path))
    document = yaml.safe_load(path.read_text())
    document["workflow"]["slug"] = "orders-copy"
    path.write_text(yaml.safe_dump(document))
    UserFactory(username="importer")
    call_command("sagaboard", "import", str(path), "--user", "importer")
    copy = Workflow.objects.get(slug="orders-copy")
    assert copy.versions.get().author.username == "importer"


def test_import_bare_spec_needs_a_workflow(tmp_path, spec):
    make_workflow("orders")
    path = tmp_path / "spec.json"
    path.write_text(json.dumps(spec))
    with pytest.raises(CommandError, match="--workflow"):
        call_command("sagaboard", "import", str(path))
    call_command("sagaboard", "import", str(path), "--workflow", "orders")
    assert Version.objects.get().spec == spec


def test_import_refuses_invalid_spec_and_stores_nothing(tmp_path, capsys, spec):
    make_workflow("orders")
    spec["steps"][0]["type"] = "teleport"
    path = tmp_path / "spec.yaml"
    path.write_text(yaml.safe_dump(spec))
    with pytest.raises(CommandError) as excinfo:
        call_command("sagaboard", "import", str(path), "--workflow", "orders")
    assert excinfo.value.returncode == 1
    assert "reserve" in capsys.readouterr().out
    assert not Version.objects.exists()


def test_validate_exit_status(tmp_path, capsys, spec):
    good = tmp_path / "good.yaml"
    good.write_text(yaml.safe_dump(spec))
    call_command("sagaboard", "validate", str(good))
    assert "is valid" in capsys.readouterr().out

    spec["steps"][2]["after"] = ["ghost"]
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(spec))
    with pytest.raises(CommandError) as excinfo:
        call_command("sagaboard", "validate", str(bad))
    assert excinfo.value.returncode == 1
    out = capsys.readouterr().out
    assert "ship.after" in out and "ghost" in out

    broken = tmp_path / "broken.json"
    broken.write_text('{"format": ')
    with pytest.raises(CommandError, match="broken.json"):
        call_command("sagaboard", "validate", str(broken))


def test_validate_through_manage_py_exits_1(tmp_path, spec):
    import os
    import subprocess
    import sys

    spec["steps"][0]["id"] = "has spaces"
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(spec))
    result = subprocess.run(
        [sys.executable, "manage.py", "sagaboard", "validate", str(path)],
        capture_output=True,
        text=True,
        env=os.environ.copy(),
    )
    assert result.returncode == 1
    assert "error" in result.stdout


def test_bootstrap_creates_admin_once(capsys):
    call_command("sagaboard", "bootstrap")
    out = capsys.readouterr().out
    password = out.split("password: ")[1].split()[0]
    admin = User.objects.get(username="admin")
    assert admin.is_superuser and admin.check_password(password)
    call_command("sagaboard", "bootstrap")
    assert "exists already" in capsys.readouterr().out
