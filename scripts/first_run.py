"""First run of Panel (`make run` calls this before starting uvicorn).

1. `.env`: adds a generated SECRET_KEY and FIELD_ENCRYPTION_KEY when they are set neither in the
   environment nor in `.env`. An existing value is never replaced: a new FIELD_ENCRYPTION_KEY
   would make every stored API key undecryptable. Other lines are kept as they are.
2. Migrates the database.
3. Loads `fixtures/staging_providers.json` (and the demo fixtures when present) into tables that
   are still empty, so a restart never resets what an admin changed since.
4. Creates an `admin` superuser with a generated password, printed once, unless a superuser exists.
5. Prints the admin URL.

Run it again at any time: every step is idempotent.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import sys
from collections.abc import Callable, Mapping
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
ENV_FILE = BASE_DIR / ".env"
FIXTURES = (
    BASE_DIR / "fixtures" / "staging_providers.json",
    BASE_DIR / "fixtures" / "demo_pages.json",
    BASE_DIR / "fixtures" / "demo_prompts.json",
)
ADMIN_URL = "http://127.0.0.1:8000/admin/"

_LINE = re.compile(r"^\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(.*?)\s*$")


def _generate_fernet_key() -> str:
    from cryptography.fernet import Fernet

    return Fernet.generate_key().decode("ascii")


def _generate_secret_key() -> str:
    # url-safe characters only: django-environ would read a leading "$" as a reference and "#"
    # as a comment.
    return secrets.token_urlsafe(50)


GENERATED: dict[str, Callable[[], str]] = {
    "SECRET_KEY": _generate_secret_key,
    "FIELD_ENCRYPTION_KEY": _generate_fernet_key,
}


def _unquote(value: str) -> str:
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
        return value[1:-1]
    return value


def ensure_env_file(path: Path, environ: Mapping[str, str]) -> list[str]:
    """Add the generated settings that are set nowhere; return the names added.

    A name set (non-empty) in `environ`, or on any of its lines in the file, is left alone. A name
    whose lines in the file are all empty has its last one filled in place: django-environ reads
    the last occurrence of a name.
    """
    lines = path.read_text().splitlines(keepends=True) if path.exists() else []
    last_line: dict[str, int] = {}
    set_in_file: set[str] = set()
    for index, line in enumerate(lines):
        if match := _LINE.match(line):
            last_line[match.group(1)] = index
            if _unquote(match.group(2)).strip():
                set_in_file.add(match.group(1))
    added: list[str] = []
    for name, generate in GENERATED.items():
        if environ.get(name, "").strip() or name in set_in_file:
            continue
        position = last_line.get(name)
        new_line = f"{name}={generate()}\n"
        if position is not None:
            lines[position] = new_line
        else:
            if lines and not lines[-1].endswith("\n"):
                lines[-1] += "\n"
            lines.append(new_line)
        added.append(name)
    if added:
        existed = path.exists()
        path.write_text("".join(lines))
        if not existed:
            path.chmod(0o600)
    return added


def _fixture_models(path: Path) -> set[str]:
    return {entry["model"] for entry in json.loads(path.read_text())}


def load_fixtures(paths: tuple[Path, ...] = FIXTURES) -> list[str]:
    """Load each fixture whose tables are all empty; return the file names loaded."""
    from django.apps import apps
    from django.core.management import call_command

    loaded: list[str] = []
    for path in paths:
        if not path.exists():
            continue
        models = [apps.get_model(label) for label in sorted(_fixture_models(path))]
        if any(model._default_manager.exists() for model in models):
            continue
        call_command("loaddata", str(path), verbosity=0)
        loaded.append(path.name)
    return loaded


def ensure_superuser(username: str = "admin") -> str | None:
    """Create `username` as a superuser with a generated password unless any superuser exists.

    Returns the password when a user was created, None otherwise.
    """
    from django.contrib.auth import get_user_model

    user_model = get_user_model()
    if user_model._default_manager.filter(is_superuser=True).exists():
        return None
    if user_model._default_manager.filter(username=username).exists():
        return None
    password = secrets.token_urlsafe(12)
    user_model._default_manager.create_superuser(username=username, email="", password=password)
    return password


def main() -> int:
    added = ensure_env_file(ENV_FILE, os.environ)
    if added:
        print(f"Wrote {' and '.join(added)} to {ENV_FILE.name}.")
    if "FIELD_ENCRYPTION_KEY" in added:
        print("Keep .env (or that key) safe: FIELD_ENCRYPTION_KEY decrypts every stored API key.")

    sys.path.insert(0, str(BASE_DIR))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "backend.panel.settings")
    import django
    from django.core.management import call_command
    from django.core.management.base import CommandError

    django.setup()
    try:
        call_command("migrate", interactive=False, verbosity=0)
    except CommandError as exc:  # a failed system check (ai.E001/E002) or migration
        print(exc, file=sys.stderr)
        return 1
    for name in load_fixtures():
        print(f"Loaded fixtures/{name}.")
    password = ensure_superuser()
    if password:
        print(f"Created the superuser: admin / {password}  (shown once; change it in the admin).")
    print(f"Panel admin: {ADMIN_URL}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
