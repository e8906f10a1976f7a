"""docs/benchmarks.md and its plot (docs/benchmarks.svg), from the rounds of bench.signin."""

from datetime import UTC, datetime
from html import escape
from pathlib import Path

DOCS = Path(__file__).resolve().parent.parent / "docs"

TARGETS = """\
| Target | Where we stand |
| --- | --- |
| A complete sign-in costs at most 6 floor requests of server CPU | {signin_x_floor} |
| p99 of the confirm step at half load at most 3 x the floor's p99 | {confirm_p99_x_floor} |
| At least 50 x more sign-ins per second than the password login | {vs_password} |
| Worker resident memory at most 80 MB | {rss} |
| Cold start under 1.5 s | {cold_start} |
| A sign-in by code costs no more server CPU than one by link | {code_vs_link} |
| A sign-in by passkey costs no more server CPU than one by link | {passkey_vs_link} |
| On PostgreSQL, mail counted: a sign-in by link at most 18 ms of server CPU, \
by code at most 12 ms | {absolute} |
"""


def standing(rounds: list[dict]) -> dict[str, str]:
    keys = (
        "signin_x_floor",
        "confirm_p99_x_floor",
        "vs_password",
        "rss",
        "cold_start",
        "code_vs_link",
        "passkey_vs_link",
        "absolute",
    )
    parts: dict[str, list[str]] = {key: [] for key in keys}
    for summary in rounds:
        results = summary["results"]
        floor, password = results[0], results[-1]
        whole = next(r for r in results if r["name"].startswith("whole sign-in by link"))
        code = next(r for r in results if r["name"].startswith("whole sign-in by code"))
        passkey = next(r for r in results if r["name"].startswith("whole sign-in by passkey"))
        confirm = next(r for r in results if r["name"].startswith("4."))
        db = summary["database"]
        ratio = whole["cpu_ms"] / floor["cpu_ms"]
        parts["signin_x_floor"].append(f"{db}: {ratio:.1f} x ({'met' if ratio <= 6 else 'missed'})")
        ratio = confirm["p99_ms"] / floor["p99_ms"]
        parts["confirm_p99_x_floor"].append(
            f"{db}: {ratio:.1f} x ({'met' if ratio <= 3 else 'missed'})"
        )
        ratio = whole["throughput"] / max(password["throughput"], 1e-9)
        parts["vs_password"].append(f"{db}: {ratio:.0f} x ({'met' if ratio >= 50 else 'missed'})")
        worst = max(summary["worker_rss_mb"])
        parts["rss"].append(f"{db}: {worst:.0f} MB ({'met' if worst <= 80 else 'missed'})")
        link_ms, code_ms = whole["cpu_ms"], code["cpu_ms"]
        parts["code_vs_link"].append(
            f"{summary['database']}: {code_ms:.1f} ms by code, {link_ms:.1f} ms by link "
            f"({'met' if code_ms <= link_ms else 'missed'})"
        )
        passkey_ms = passkey["cpu_ms"]
        parts["passkey_vs_link"].append(
            f"{db}: {passkey_ms:.1f} ms by passkey, {link_ms:.1f} ms by link "
            f"({'met' if passkey_ms <= link_ms else 'missed'})"
        )
        if db == "postgresql":
            parts["absolute"].append(
                f"{link_ms:.1f} ms by link ({'met' if link_ms <= 18 else 'missed'}), "
                f"{code_ms:.1f} ms by code ({'met' if code_ms <= 12 else 'missed'})"
            )
        cold = summary["cold_start_s"]
        parts["cold_start"].append(f"{db}: {cold:.2f} s ({'met' if cold < 1.5 else 'missed'})")
    return {key: "; ".join(values) for key, values in parts.items()}


def table(summary: dict) -> str:
    results = summary["results"]
    floor = results[0]
    lines = [
        "| Scenario | ops/s at saturation | p50 ms at half load | p99 ms at half load | "
        "server CPU ms per op | CPU x floor | p99 x floor | failed |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for r in results:
        lines.append(
            f"| {r['name']} | {r['throughput']:.1f} | {r['p50_ms']:.1f} | {r['p99_ms']:.1f} | "
            f"{r['cpu_ms']:.2f} | {r['cpu_ms'] / floor['cpu_ms']:.1f} | "
            f"{r['p99_ms'] / floor['p99_ms']:.1f} | {r['failures']} |"
        )
    notes = [note for r in results for note in r["notes"]]
    rss = ", ".join(f"{mb:.0f} MB" for mb in summary["worker_rss_mb"])
    notes += [
        f"Worker resident memory after the run (mail included): {rss}.",
        f"Cold start, process start to the first 200 from `/healthz`: "
        f"{summary['cold_start_s']:.2f} s.",
        f"Proof of work (the front door, past a network's allowance), server CPU: "
        f"{summary['proof_make_ms']:.3f} ms to make a challenge, "
        f"{summary['proof_check_ms']:.3f} ms to check an answer "
        f"({summary['proof_check_ms'] / floor['cpu_ms']:.1f} x floor).",
        f"Load generator and SMTP sink used {summary['generator_cpu_s']:.1f} s of CPU over "
        f"{summary['wall_s']:.0f} s, on their own core.",
    ]
    return "\n".join(lines) + "\n\n" + "\n".join(f"- {note}" for note in notes) + "\n"


def plot(rounds: list[dict]) -> str:
    """Server CPU per operation, as multiples of the floor: one bar per scenario and database."""
    names = [r["name"].split(":")[0].split(" (")[0] for r in rounds[0]["results"]]
    colours = ["#3b4cca", "#e07a1f"]
    bar, gap, left, width = 14, 10, 330, 560
    longest = max(r["cpu_ms"] / s["results"][0]["cpu_ms"] for s in rounds for r in s["results"])
    scale = (width - 60) / longest
    height = 60 + len(names) * (bar * len(rounds) + gap)
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{left + width}" height="{height}" '
        'font-family="system-ui, sans-serif" font-size="12">',
        '<rect width="100%" height="100%" fill="#ffffff"/>',
        '<text x="10" y="20" font-size="14" font-weight="bold">Server CPU per operation, '
        "in floor requests (lower is better)</text>",
    ]
    for index, (summary, colour) in enumerate(zip(rounds, colours, strict=False)):
        out.append(
            f'<rect x="{left + index * 110}" y="30" width="10" height="10" fill="{colour}"/>'
        )
        out.append(
            f'<text x="{left + 14 + index * 110}" y="39">{escape(summary["database"])}</text>'
        )
    y = 55
    for row, name in enumerate(names):
        out.append(f'<text x="10" y="{y + bar * len(rounds) / 2 + 4}">{escape(name)}</text>')
        for summary, colour in zip(rounds, colours, strict=False):
            result = summary["results"][row]
            ratio = result["cpu_ms"] / summary["results"][0]["cpu_ms"]
            length = max(1, ratio * scale)
            out.append(
                f'<rect x="{left}" y="{y}" width="{length:.1f}" height="{bar - 2}" '
                f'fill="{colour}"/>'
            )
            out.append(f'<text x="{left + length + 4:.1f}" y="{y + bar - 4}">{ratio:.1f}</text>')
            y += bar
        y += gap
    out.append("</svg>")
    return "\n".join(out) + "\n"


def write_report(rounds: list[dict], machine: dict[str, str], seconds: float) -> None:
    DOCS.mkdir(exist_ok=True)
    (DOCS / "benchmarks.svg").write_text(plot(rounds))
    described = ", ".join(f"{key} {value}" for key, value in machine.items())
    sections = "\n".join(f"### {s['database']}\n\n{table(s)}" for s in rounds)
    text = f"""# Benchmarks: what one sign-in costs

Measured {datetime.now(UTC):%Y-%m-%d} on {described}.

Reproduce with `scripts/bench --write` (about three minutes; `scripts/bench` alone prints the
table without writing this page). It starts the production stack on loopback: gunicorn with
`config/gunicorn.py` (2 workers x 4 threads) and DEBUG off, a real `redis-server`, a real SMTP
server that keeps what it receives (over STARTTLS, its certificate checked), and SQLite, then
PostgreSQL. gunicorn, Redis and PostgreSQL are pinned to CPU 0; the load generator (Python,
keep-alive connections) and its SMTP sink to CPU 1. Rate limits are raised through the
environment for the run, and worker recycling is off so that no worker's CPU accounting leaves
mid-run.

For each scenario: throughput with 8 clients in a closed loop for {seconds:g} s; p50 and p99
latency in an open loop at half that rate (measured from each request's scheduled start, so a
queue shows); and the CPU time (utime + stime from /proc) of the gunicorn workers, whose
couriers send the mail (`accounts/mail/courier.py`), per successful operation, read once the
mail queue is empty, so every email the phase queued is paid for.
Every counted sign-in really succeeded: the dashboard greeted the new address.
Failures are counted in the table, never dropped. The floor is a page that does nothing
(`GET /check-inbox/` without a session answers a redirect) through the same middleware.

![Server CPU per operation, in floor requests](benchmarks.svg)

## Targets

{TARGETS.format(**standing(rounds))}
## Results

{sections}"""
    (DOCS / "benchmarks.md").write_text(text + hand_written_analysis())


ANALYSIS_HEADING = "## Analysis"


def hand_written_analysis() -> str:
    """The page's analysis, written and dated by people: kept as it is, never regenerated."""
    page = DOCS / "benchmarks.md"
    existing = page.read_text() if page.exists() else ""
    at = existing.find("\n" + ANALYSIS_HEADING)
    return existing[at:] if at >= 0 else f"\n{ANALYSIS_HEADING}\n\nNot written yet.\n"
