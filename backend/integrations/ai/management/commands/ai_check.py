"""`manage.py ai_check [--no-live] [--json]`: is every provider reachable, and where does each alias go?

For every provider: its kind, where its key comes from, and (unless --no-live) a live `check()`
with its latency. For every alias: its candidates in the order the next call would try them.
Exits non-zero when an alias has no usable route or a live check fails.
"""

from __future__ import annotations

import json
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from backend.integrations.ai import config, diagnostics, router


class Command(BaseCommand):
    help = "Report every AI provider (key source, live check) and every alias (candidates in order)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--no-live", action="store_true", help="Skip the live provider checks.")
        parser.add_argument("--json", action="store_true", help="Print one JSON document.")

    def handle(self, *args: Any, **opts: Any) -> None:
        cfg = config.current()
        providers = [self._provider(p, live=not opts["no_live"]) for p in cfg.provider_order]
        aliases = [router.explain(name, cfg) for name in sorted(cfg.aliases)]
        if cfg.default_alias not in cfg.aliases:
            aliases.append(router.explain(None, cfg))
        broken = {p["name"] for p in providers if p["check"] and not p["check"]["ok"]}
        failing = [a.requested for a in aliases if all(c.provider in broken for c in a.candidates)]
        if opts["json"]:
            doc = {
                "source": cfg.source,
                "mode": cfg.mode,
                "providers": providers,
                "aliases": [router.explain_as_dict(a) for a in aliases],
            }
            self.stdout.write(json.dumps(doc, indent=2, default=str))
        else:
            self._print(cfg, providers, aliases)
        if failing:
            self.stderr.write(f"No usable route for: {', '.join(failing)}")
            raise SystemExit(1)

    def _provider(self, p: config.ProviderConfig, *, live: bool) -> dict[str, Any]:
        return {
            "name": p.name,
            "kind": p.kind,
            "base_url": p.spec.base_url,
            "priority": p.priority,
            "key_source": p.key_source,
            "problem": p.problem,
            "check": diagnostics.check_config(p) if live else None,
        }

    def _print(self, cfg: config.RegistryConfig, providers: list[dict[str, Any]], aliases: list[Any]) -> None:
        self.stdout.write(
            f"Configuration: {cfg.source}, mode {cfg.mode}, default alias '{cfg.default_alias}'"
        )
        self.stdout.write("\nProviders")
        for p in providers:
            line = f"  {p['name']:<24} {p['kind']:<18} key: {p['key_source']:<28}"
            check = p["check"]
            if check:
                line += f" {check['label']} ({check['latency_ms']:.0f} ms)"
                if not check["ok"]:
                    line += f": {check['message']}"
            elif p["problem"]:
                line += f" {p['problem']}"
            self.stdout.write(line)
        self.stdout.write("\nAliases")
        for a in aliases:
            if not a.candidates:
                self.stdout.write(self.style.ERROR(f"  {a.requested}: {a.error}"))
                continue
            order = " → ".join(
                f"{c.provider}:{c.model}" + (f" [{c.circuit}]" if c.circuit != "closed" else "")
                for c in a.candidates
            )
            self.stdout.write(f"  {a.requested} ({a.strategy}): {order}")
