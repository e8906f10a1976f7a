"""What `bench.steps` and `bench.reference_steps` share: each request of a sign-in measured
in-process (this thread's CPU, its SQL statements, its Redis commands, PostgreSQL's CPU), and
the table printed from the medians. Django must be set up before a Steps is made."""

import statistics
import time
from collections.abc import Callable


class Steps:
    def __init__(self, stack) -> None:
        from django_redis import get_redis_connection

        self.stack = stack
        self.redis = get_redis_connection("default")
        self.samples: dict[str, list[tuple[float, int, int, float]]] = {}

    def _redis_calls(self) -> int:
        return sum(stats["calls"] for stats in self.redis.info("commandstats").values())

    def __call__(self, name: str, action: Callable):
        """Run one step, keep what it cost under `name`, return what it returned."""
        from django.db import connection
        from django.test.utils import CaptureQueriesContext

        redis_before = self._redis_calls()
        postgres_before = self.stack.infrastructure_cpu_seconds()[0]
        connection.queries_log.clear()  # it keeps 9000: a full one counts nothing more
        with CaptureQueriesContext(connection) as queries:
            started = time.thread_time()
            response = action()
            cpu = time.thread_time() - started
        postgres = self.stack.infrastructure_cpu_seconds()[0] - postgres_before
        # The INFO command that reads the count is itself counted once.
        commands = self._redis_calls() - redis_before - 1
        self.samples.setdefault(name, []).append((cpu, len(queries), commands, postgres))
        return response

    def report(self, title: str) -> None:
        """Median CPU per step (PostgreSQL's a mean: /proc counts in 10 ms ticks)."""
        print(f"{title}, median per step (this thread's CPU):")
        print(f"{'step':42} {'CPU ms':>7} {'SQL':>4} {'Redis':>6} {'PostgreSQL ms':>14}")
        total = total_postgres = 0.0
        for name, samples in self.samples.items():
            cpu = statistics.median(s[0] for s in samples) * 1000
            postgres = statistics.mean(s[3] for s in samples) * 1000
            total, total_postgres = total + cpu, total_postgres + postgres
            sql, commands = samples[-1][1], samples[-1][2]
            print(f"{name:42} {cpu:7.2f} {sql:4d} {commands:6d} {postgres:14.2f}")
        print(f"{'whole sign-in':42} {total:7.2f} {'':4} {'':6} {total_postgres:14.2f}\n")


def stop_servers(stack) -> None:
    """The stack's servers, and this run's scratch folders."""
    from harness.servers import remove_scratch

    stack.smtp.stop()
    stack.redis.stop()
    if stack.postgres:
        stack.postgres.stop()
    remove_scratch()
