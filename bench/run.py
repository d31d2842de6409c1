"""`make bench`: what the registry adds to a call, measured side by side with raw httpx.

Everything runs against the loopback fake provider server (tests/fakes/server.py) started as
subprocesses pinned to another core than this client where the machine has two, with the registry
reading its config from a real (throwaway) SQLite database and writing its ledger there. Prints a
table and writes bench/results.json. Figures are ratios measured in this one run: on a noisy
2-core machine only a same-run comparison means anything.

Scenarios:
1. sequential complete() vs a raw httpx.Client POST + JSON parse of the same request (median, p95);
2. a 50-chunk stream() consumed vs a raw httpx stream with SSE line parsing;
3. 500 concurrent acomplete() vs raw httpx.AsyncClient with the same pool limits, against a server
   that waits 20 ms per reply (wall time);
4. the first candidate answering 503 (and refusing connections), before and after its circuit
   opened, vs a healthy call;
5. the import cost of what a first call needs, after django.setup().
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

BENCH_KEY = "sk-test-bench"
PROMPT = [{"role": "user", "content": "Say hello to the benchmark."}]
TARGETS = {
    "sequential": 1.25,
    "stream": 1.3,
    "concurrent": 1.15,
    "circuit_open": 1.1,
    "import_ms": 150.0,
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def pin(core: int) -> None:
    if hasattr(os, "sched_setaffinity") and (os.cpu_count() or 1) > 1:
        os.sched_setaffinity(0, {core})


def start_server(*args: str) -> tuple[subprocess.Popen[str], str]:
    port = free_port()
    cmd = [sys.executable, "-m", "tests.fakes.server", "--port", str(port), *args]
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, text=True, preexec_fn=lambda: pin(1))
    assert proc.stdout is not None
    proc.stdout.readline()  # "listening on ..."
    return proc, f"http://127.0.0.1:{port}"


def setup_django(db_path: Path, cache_url: str | None = None) -> None:
    os.environ["DJANGO_SETTINGS_MODULE"] = "backend.panel.settings"
    os.environ["DATABASE_URL"] = f"sqlite:///{db_path}"
    os.environ.setdefault("FIELD_ENCRYPTION_KEY", "YmVuY2gta2V5LWZvci1wYW5lbC1vbmx5LTAwMDAwMDA=")
    os.environ["AI_ALLOW_PRIVATE_BASE_URLS"] = "true"
    if cache_url:  # e.g. redis://127.0.0.1:6379/12: the production setup's shared cache
        os.environ["CACHE_URL"] = cache_url
    else:
        os.environ.pop("CACHE_URL", None)
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    from django.core.cache import cache

    cache.clear()  # a shared cache may hold circuits from an earlier run


def configure(fast_url: str, slow_url: str, failing_url: str) -> None:
    from backend.integrations.ai.models import ModelAlias, ModelRoute, Provider

    def provider(name: str, url: str, priority: int, **extra: Any) -> Provider:
        return Provider.objects.create(
            name=name,
            kind="openai",
            base_url=url,
            api_key=BENCH_KEY,
            priority=priority,
            max_retries=0,
            **extra,
        )

    fast = provider("fast", f"{fast_url}/bench/openai/v1", 10)
    slow = provider("slow", f"{slow_url}/bench/openai/v1", 10, max_connections=500)
    failing = provider("failing", failing_url, 1)
    refused = provider("refused", f"http://127.0.0.1:{free_port()}/v1", 1)
    for name, routes in {
        "default": [fast],
        "concurrent": [slow],
        "failover": [failing, fast],
        "refused": [refused, fast],
    }.items():
        alias = ModelAlias.objects.create(name=name)
        for i, p in enumerate(routes):
            ModelRoute.objects.create(alias=alias, provider=p, model="gpt-4o-mini", priority=i)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def timed(fn: Callable[[], Any], n: int) -> list[float]:
    out = []
    for _ in range(n):
        t = time.perf_counter()
        fn()
        out.append((time.perf_counter() - t) * 1000)
    return out


def interleaved(
    a: Callable[[], Any], b: Callable[[], Any], n: int, block: int = 100
) -> tuple[list[float], list[float]]:
    """Alternate blocks of a and b so drift on a noisy machine hits both alike."""
    ta: list[float] = []
    tb: list[float] = []
    while len(ta) < n:
        ta += timed(a, block)
        tb += timed(b, block)
    return ta, tb


def summary(raw: list[float], reg: list[float]) -> dict[str, float]:
    return {
        "raw_median_ms": statistics.median(raw),
        "raw_p95_ms": percentile(raw, 0.95),
        "registry_median_ms": statistics.median(reg),
        "registry_p95_ms": percentile(reg, 0.95),
        "ratio_median": statistics.median(reg) / statistics.median(raw),
        "ratio_p95": percentile(reg, 0.95) / percentile(raw, 0.95),
    }


def bench_sequential(fast_url: str, n: int) -> dict[str, float]:
    import httpx

    from backend.integrations import ai

    url = f"{fast_url}/bench/openai/v1/chat/completions"
    client = httpx.Client(
        limits=httpx.Limits(max_connections=100, max_keepalive_connections=100),
        timeout=30,
        headers={"Authorization": f"Bearer {BENCH_KEY}"},
    )
    body = {"model": "gpt-4o-mini", "messages": PROMPT}

    def raw() -> str:
        r = client.post(url, json=body)
        r.raise_for_status()
        return r.json()["choices"][0]["message"]["content"]

    def registry() -> str:
        return ai.complete(PROMPT, model="default", caller="bench").text

    timed(raw, 200)
    timed(registry, 200)
    raw_t, reg_t = interleaved(raw, registry, n)
    client.close()
    return summary(raw_t, reg_t)


def bench_stream(fast_url: str, n: int) -> dict[str, float]:
    import httpx

    from backend.integrations import ai

    url = f"{fast_url}/bench/openai/v1/chat/completions"
    client = httpx.Client(timeout=30, headers={"Authorization": f"Bearer {BENCH_KEY}"})
    body = {
        "model": "gpt-4o-mini",
        "messages": PROMPT,
        "stream": True,
        "stream_options": {"include_usage": True},
    }

    def raw() -> str:
        parts = []
        with client.stream("POST", url, json=body) as r:
            r.raise_for_status()
            for line in r.iter_lines():
                if not line.startswith("data:"):
                    continue
                data = line[5:].strip()
                if data == "[DONE]":
                    break
                event = json.loads(data)
                for choice in event.get("choices") or ():
                    parts.append(choice["delta"].get("content") or "")
        return "".join(parts)

    def registry() -> str:
        return "".join(c.text for c in ai.stream(PROMPT, model="default", caller="bench.stream"))

    assert raw() == registry(), "the raw and registry streams disagree"
    timed(raw, 50)
    timed(registry, 50)
    raw_t, reg_t = interleaved(raw, registry, n, block=50)
    client.close()
    return summary(raw_t, reg_t)


def bench_concurrent(slow_url: str, calls: int, rounds: int) -> dict[str, float]:
    import httpx

    from backend.integrations import ai
    from backend.integrations.ai.providers._client import shard_limits

    url = f"{slow_url}/bench/openai/v1/chat/completions"
    body = {"model": "gpt-4o-mini", "messages": PROMPT}
    headers = {"Authorization": f"Bearer {BENCH_KEY}"}

    async def raw_round(clients: list[httpx.AsyncClient]) -> float:
        async def one(client: httpx.AsyncClient) -> str:
            r = await client.post(url, json=body)
            r.raise_for_status()
            return r.json()["choices"][0]["message"]["content"]

        t = time.perf_counter()
        await asyncio.gather(*(one(clients[i % len(clients)]) for i in range(calls)))
        return (time.perf_counter() - t) * 1000

    async def registry_round() -> float:
        t = time.perf_counter()
        await asyncio.gather(
            *(ai.acomplete(PROMPT, model="concurrent", caller="bench.async") for _ in range(calls))
        )
        return (time.perf_counter() - t) * 1000

    def client(size: int) -> httpx.AsyncClient:
        limits = httpx.Limits(max_connections=size, max_keepalive_connections=size)
        return httpx.AsyncClient(limits=limits, timeout=30, headers=headers)

    async def main() -> tuple[list[float], list[float], list[float]]:
        single = [client(calls)]  # one pool sized for the load, as the target defines it
        sharded = [client(n) for n in shard_limits(calls)]  # the registry's pool layout, raw
        await raw_round(single)
        await raw_round(sharded)
        await registry_round()
        single_t, sharded_t, reg_t = [], [], []
        for _ in range(rounds):
            single_t.append(await raw_round(single))
            sharded_t.append(await raw_round(sharded))
            reg_t.append(await registry_round())
        for c in single + sharded:
            await c.aclose()
        return single_t, sharded_t, reg_t

    single_t, sharded_t, reg_t = asyncio.run(main())
    from backend.integrations.ai import ledger

    ledger.flush()
    return {
        "calls": calls,
        "raw_median_ms": statistics.median(single_t),
        "raw_sharded_median_ms": statistics.median(sharded_t),
        "registry_median_ms": statistics.median(reg_t),
        "ratio_median": statistics.median(reg_t) / statistics.median(single_t),
        "ratio_vs_sharded_median": statistics.median(reg_t) / statistics.median(sharded_t),
    }


def bench_circuit(n: int) -> dict[str, float]:
    from django.conf import settings

    from backend.integrations import ai
    from backend.integrations.ai import health

    settings.AI_CIRCUIT_COOLDOWN_SECONDS = 3600
    healthy = timed(lambda: ai.complete(PROMPT, model="default", caller="bench.healthy"), n)
    before_503 = timed(lambda: ai.complete(PROMPT, model="failover", caller="bench.503"), 1)
    before_refused = timed(lambda: ai.complete(PROMPT, model="refused", caller="bench.refused"), 1)
    for name in ("failing", "refused"):
        for _ in range(int(settings.AI_CIRCUIT_FAILURES)):
            health.record_failure(name)
    after_503, healthy_2 = interleaved(
        lambda: ai.complete(PROMPT, model="failover", caller="bench.503"),
        lambda: ai.complete(PROMPT, model="default", caller="bench.healthy"),
        n,
    )
    after_refused = timed(lambda: ai.complete(PROMPT, model="refused", caller="bench.refused"), n)
    healthy_median = statistics.median(healthy + healthy_2)
    return {
        "healthy_median_ms": healthy_median,
        "first_503_before_circuit_ms": before_503[0],
        "first_refused_before_circuit_ms": before_refused[0],
        "first_503_after_circuit_median_ms": statistics.median(after_503),
        "first_refused_after_circuit_median_ms": statistics.median(after_refused),
        "ratio_median": statistics.median(after_503) / statistics.median(healthy_2),
        "ratio_refused_median": statistics.median(after_refused) / healthy_median,
    }


IMPORT_PROBE = """
import os, sys, time
t0 = time.perf_counter()
import django
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "backend.panel.settings")
django.setup()
t1 = time.perf_counter()
import backend.integrations.ai.calls  # everything the first call needs: router, providers, httpx
import backend.integrations.ai.providers.openai_provider
t2 = time.perf_counter()
print((t1 - t0) * 1000, (t2 - t1) * 1000, "httpx" in sys.modules)
"""


COLD_PROBE = """
import time
t = time.perf_counter()
import backend.integrations.ai.providers.anthropic_provider
import backend.integrations.ai.providers.openai_provider
import backend.integrations.ai.providers.openrouter_provider
print((time.perf_counter() - t) * 1000)
"""


def bench_import(runs: int = 5) -> dict[str, float]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    times, setups = [], []
    for _ in range(runs):
        out = subprocess.run(
            [sys.executable, "-c", IMPORT_PROBE],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            check=True,
        )
        setup_ms, import_ms, _ = out.stdout.strip().splitlines()[-1].split()
        setups.append(float(setup_ms))
        times.append(float(import_ms))
    colds = [
        float(
            subprocess.run(
                [sys.executable, "-c", COLD_PROBE],
                cwd=ROOT,
                env=env,
                capture_output=True,
                text=True,
                check=True,
            ).stdout.strip()
        )
        for _ in range(runs)
    ]
    # django.setup() already imports httpx: the admin's autodiscovery loads the catalog sync. The
    # cold figure is the providers with httpx in a fresh interpreter, the most the facade can add.
    return {
        "cold_providers_with_httpx_median_ms": statistics.median(colds),
        "median_ms": statistics.median(times),
        "min_ms": min(times),
        "max_ms": max(times),
        "django_setup_median_ms": statistics.median(setups),
    }


def row(name: str, value: float, target: float, unit: str = "×") -> str:
    verdict = "ok" if value <= target else "OVER"
    return f"  {name:<52} {value:8.3f}{unit:<3} target ≤ {target:g}{unit}   {verdict}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=2000, help="sequential calls per side (after warm-up)")
    parser.add_argument("--stream-n", type=int, default=500)
    parser.add_argument("--concurrent", type=int, default=500)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--out", default=str(ROOT / "bench" / "results.json"))
    parser.add_argument(
        "--cache-url", default=None, help="run with this shared cache (default: local memory)"
    )
    args = parser.parse_args()

    pin(0)
    servers = []
    with tempfile.TemporaryDirectory() as tmp:
        try:
            fast, fast_url = start_server("--chunks", "50")
            slow, slow_url = start_server("--delay-ms", "20")
            servers += [fast, slow]
            from tests.fakes.server import FakeProviderServer, Fault

            failing_server = FakeProviderServer().start()
            failing_server.script("bench", Fault(status=503, always=True))
            setup_django(Path(tmp) / "bench.sqlite3", args.cache_url)
            configure(fast_url, slow_url, failing_server.base_url("openai", tenant="bench"))
            results: dict[str, Any] = {"machine": {"cpus": os.cpu_count(), "python": sys.version.split()[0]}}
            print("sequential complete() …", flush=True)
            results["sequential"] = bench_sequential(fast_url, args.n)
            print("50-chunk stream() …", flush=True)
            results["stream"] = bench_stream(fast_url, args.stream_n)
            print(f"{args.concurrent} concurrent acomplete() …", flush=True)
            results["concurrent"] = bench_concurrent(slow_url, args.concurrent, args.rounds)
            print("circuit breaker …", flush=True)
            results["circuit"] = bench_circuit(500)
            print("import time …", flush=True)
            results["import"] = bench_import()
            failing_server.stop()
        finally:
            for proc in servers:
                proc.terminate()
    report(results)
    Path(args.out).write_text(json.dumps(results, indent=2))
    print(f"\nwrote {args.out}")


def note(name: str, value: float, unit: str = "×") -> str:
    return f"  {name:<52} {value:8.3f}{unit}"


def report(r: dict[str, Any]) -> None:
    s, st, c, cb, imp = r["sequential"], r["stream"], r["concurrent"], r["circuit"], r["import"]
    lines = [
        "\nPanel AI registry benchmark (loopback fake server; ratios from this one run)\n",
        f"  sequential: raw httpx median {s['raw_median_ms']:.3f} ms (p95 {s['raw_p95_ms']:.3f}), "
        f"complete() median {s['registry_median_ms']:.3f} ms (p95 {s['registry_p95_ms']:.3f})",
        row("complete() / raw httpx, median", s["ratio_median"], TARGETS["sequential"]),
        note("complete() / raw httpx, p95", s["ratio_p95"]),
        f"  stream: raw median {st['raw_median_ms']:.3f} ms, "
        f"stream() median {st['registry_median_ms']:.3f} ms",
        row("50-chunk stream() / raw httpx stream, median", st["ratio_median"], TARGETS["stream"]),
        f"  concurrent ({c['calls']} calls, server waits 20 ms): "
        f"raw one AsyncClient {c['raw_median_ms']:.1f} ms, "
        f"raw sharded {c['raw_sharded_median_ms']:.1f} ms, acomplete() {c['registry_median_ms']:.1f} ms",
        row("concurrent acomplete() / raw AsyncClient, wall", c["ratio_median"], TARGETS["concurrent"]),
        note("concurrent acomplete() / raw clients sharded alike", c["ratio_vs_sharded_median"]),
        f"  circuit: healthy {cb['healthy_median_ms']:.3f} ms; first candidate 503 before its circuit "
        f"opened {cb['first_503_before_circuit_ms']:.1f} ms, "
        f"refused {cb['first_refused_before_circuit_ms']:.1f} ms",
        row(
            "first candidate 503, circuit open / healthy, median", cb["ratio_median"], TARGETS["circuit_open"]
        ),
        note("first candidate refusing, circuit open / healthy", cb["ratio_refused_median"]),
        row("import of the call path after django.setup()", imp["median_ms"], TARGETS["import_ms"], " ms"),
        row(
            "cold import: providers + httpx, fresh interpreter",
            imp["cold_providers_with_httpx_median_ms"],
            TARGETS["import_ms"],
            " ms",
        ),
        note("django.setup() (its admin autodiscovery loads httpx)", imp["django_setup_median_ms"], " ms"),
    ]
    print("\n".join(lines))


if __name__ == "__main__":
    main()
