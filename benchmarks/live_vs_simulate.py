"""Live vs simulated, per model, with the measured per-query overhead.

For each model (ncf, rm2, wnd, mtwnd, dien; built-in profiles, the paper's QoS at p99 and
budget): replay endpoints run in their own process (as ``kairos serve-replay`` does), the
client in this one.

1. The overhead of the endpoint set is measured with :func:`~kairos_sdk.client.measure_profile`
   against one endpoint per type (each round trip split into the server's reported compute
   and the rest), and attached to the profile (``Profile.with_overhead``).
2. The pool is planned with it (eligibility against ``qos_ms`` minus the overhead at p99).
   When the target is out of reach with the overhead (ncf's 5 ms on this machine, some
   runs), the pool planned without it is compared instead, and the message says so.
3. The pool is served and driven at 30 %, 70 % and 90 % of its planned rate, capped at what
   one client process drives on this machine (``--cap-share`` of the core share this process
   gets right now, divided by the client's CPU time per query measured in step 1; the cap and
   the rates it cuts are printed), and the very same queries (same seed) are simulated with
   the same overhead.

Printed per rate: QoS attainment and p99, live and simulated, and the differences (targets:
attainment within 2 points, p99 within 10 %), then the live run's time split and the share of
a core the client's and the servers' processes used. The machine's load average is printed
before and after: the numbers are only as good as the machine is idle.

The overhead grows as the processes idle between queries (a query that finds them idle pays
colder caches and wake-ups: ncf's wire time is 1.2 ms idle 6 ms before each request against
0.57 ms back to back, ``benchmarks/replay_timer.py``),
which the sequential measurement of step 1 cannot see. So at each rate a pilot live run with
other queries (seed 2) measures the overhead at that rate (:meth:`Overhead.from_run
<kairos_sdk.overhead.Overhead.from_run>`: the client's own time before the send, the wire,
the server's queue and its extra), and the measured run is simulated with it too: the row labelled
``pilot`` is what a user gets by measuring the overhead at the rate they serve, the one
labelled ``sequential`` what the planner planned with. ``--no-pilot`` skips it.

A run in which the client's or the servers' process used more than ``--busy-share`` (60 %)
of a core is printed but not judged: there the machine's two cores, shared by the client and
every replay endpoint, are the limit, as they would not be with one machine per instance.

Run::

    python benchmarks/live_vs_simulate.py [--models ncf,wnd] [--queries 2000] [--fractions 0.3,0.7,0.9]
        [--policy kairos] [--budget 2.5] [--no-overhead] [--no-pilot] [--busy-share 0.6]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from kairos_sdk import Pool, Profile, Workload, simulate
from kairos_sdk._loop import loop_factory
from kairos_sdk._loop import run as run_loop
from kairos_sdk.client import KairosClient, OpenInferenceProtocol, measure_profile
from kairos_sdk.defaults import PAPER_BUDGET_PER_HOUR, PAPER_QOS_MS, default_catalog
from kairos_sdk.distribute import policy_from_name, policy_names
from kairos_sdk.endpoints import serve_pool
from kairos_sdk.errors import InfeasibleError
from kairos_sdk.overhead import Overhead, breakdown
from kairos_sdk.planner import Planner
from kairos_sdk.pool import Instance

MODELS = ("ncf", "rm2", "wnd", "mtwnd", "dien")
_SERVER = """
import sys
from kairos_sdk import Pool, Profile
from kairos_sdk.endpoints import serve_forever
model, path = sys.argv[1], sys.argv[2]
counts = {t: int(n) for t, n in (kv.split("=") for kv in sys.argv[3].split(","))}
serve_forever(Pool.from_counts(counts), Profile.builtin(model), model=model, pool_file=path, seed=7, out=open("/dev/null", "w"))
"""

SERVERS: list = []  # the replay server processes running now (their CPU time is read per run)


class ReplayProcess:
    """Replay endpoints for ``pool`` in a child process; the pool with endpoints once up."""

    def __init__(self, model: str, pool: Pool) -> None:
        self.model, self.counts = model, pool.counts

    def __enter__(self) -> Pool:
        self._dir = tempfile.TemporaryDirectory()
        path = Path(self._dir.name) / "pool.json"
        spec = ",".join(f"{t}={n}" for t, n in self.counts.items())
        self._proc = subprocess.Popen([sys.executable, "-c", _SERVER, self.model, str(path), spec], env=os.environ)
        t0 = time.monotonic()
        while not path.exists() or not path.read_text().strip():
            if self._proc.poll() is not None or time.monotonic() - t0 > 60:
                raise RuntimeError("replay server process did not start")
            time.sleep(0.1)
        doc = json.loads(path.read_text())
        return Pool([Instance(i["id"], i["type"], i["endpoint"]) for i in doc["instances"]])

    def cpu_s(self) -> float:
        """CPU seconds the server process has used so far (Linux ``/proc``; nan elsewhere)."""
        try:
            fields = Path(f"/proc/{self._proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            return float("nan")
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def __exit__(self, *exc: object) -> None:
        self._proc.terminate()
        self._proc.wait(timeout=30)
        self._dir.cleanup()


@contextlib.asynccontextmanager
async def replay(model: str, pool: Pool, inline: bool):
    """The pool served by replay endpoints: in this process's event loop (``inline``) or in a
    child process, as ``kairos serve-replay`` does."""
    if inline:
        async with serve_pool(pool, Profile.builtin(model), model=model, seed=7) as live:
            yield live
    else:
        server = ReplayProcess(model, pool)
        with server as live:
            SERVERS.append(server)
            try:
                yield live
            finally:
                SERVERS.remove(server)


async def measure_overhead(model: str, profile: Profile, repeats: int, inline: bool) -> tuple[Overhead, float]:
    """The endpoint set's overhead (one endpoint per type) and the client's CPU ms per query
    (the servers' too when ``inline``)."""
    one_each = Pool.from_counts({t: 1 for t in profile.instance_types})
    async with replay(model, one_each, inline) as live:
        urls = {i.type: i.endpoint for i in live}
        sizes = sorted({int(b) for b in np.quantile(Workload.deeprecsys().sample_batches(2000, np.random.default_rng(0)),
                                                     [0.1, 0.5, 0.9])})
        cpu0 = time.process_time()
        measured = await measure_profile(urls, sizes, repeats, protocol=OpenInferenceProtocol(model), progress=False)
        n = repeats * len(sizes) * len(urls) + len(urls)
        cpu_ms = (time.process_time() - cpu0) * 1000.0 / n
    return measured.overhead, cpu_ms


async def live_run(model, pool, profile, workload, args, rate, seed):
    """A live run; ``extra["cpu_share"]`` holds the share of a core the client's and the
    servers' processes used during it (a process near 100 % is what limits the run)."""
    async with replay(model, pool, args.inline) as pool, KairosClient(pool, protocol=OpenInferenceProtocol(model), policy=policy_from_name(args.policy),
                            profile=profile, qos_ms=PAPER_QOS_MS[model]) as client:
        srv = SERVERS[-1] if SERVERS else None
        c0, s0, w0 = time.process_time(), srv.cpu_s() if srv else float("nan"), time.perf_counter()
        r = await client.run(workload, rate=rate, n_queries=args.queries, seed=seed, progress=False)
        wall = time.perf_counter() - w0
        r.extra["cpu_share"] = {"client": (time.process_time() - c0) / wall,
                                "servers": (srv.cpu_s() - s0) / wall if srv else float("nan")}
        return r


def cpu_share(seconds: float = 0.5) -> float:
    """Share of one core this process gets right now (a busy loop's CPU time over wall time):
    about 1 on an idle machine, much less when other jobs keep the cores busy."""
    t0, c0 = time.perf_counter(), time.process_time()
    while time.perf_counter() - t0 < seconds:
        pass
    return (time.process_time() - c0) / (time.perf_counter() - t0)


def split_line(r) -> str:
    b = breakdown(r)
    if b is None:
        return ""
    ok = np.isfinite(r.latencies_ms)
    parts = [(k.removesuffix("_ms"), b[k][ok]) for k in b]
    return "   split mean/p99 ms: " + ", ".join(
        f"{k} {np.nanmean(v):.3f}/{np.nanquantile(v, .99):.3f}" for k, v in parts)


def compare(model, pool, prof, truth, workload, args, f, rate) -> list:
    """One rate: a live run, simulated with the sequential overhead and (unless
    ``--no-pilot``) with a pilot run's; prints a row each and returns ``(model@rate, label,
    verdict)``, the verdict ``None`` when a process used more than ``--busy-share`` of a
    core (the two cores were the limit, not the client or the model)."""
    qos = PAPER_QOS_MS[model]
    live = run_loop(live_run(model, pool, prof, workload, args, rate, seed=1))
    cpu = live.extra["cpu_share"]
    busy = bool(np.nanmax([cpu["client"], cpu["servers"]]) > args.busy_share)
    sims = [("sequential", prof)]
    if not args.no_pilot:  # the overhead at this rate: a pilot run with other queries (seed 2)
        pilot = run_loop(live_run(model, pool, prof, workload, args, rate, seed=2))
        sims.append(("pilot", truth.with_overhead(Overhead.from_run(pilot))))
        print(f"   {f:4.0%} {rate:7.1f} {live.qos_attainment:9.2%} {pilot.qos_attainment:9.2%} "
              f"{(live.qos_attainment - pilot.qos_attainment) * 100:+8.2f} {live.p99_ms:9.3f} {pilot.p99_ms:9.3f} "
              f"{(live.p99_ms - pilot.p99_ms) / pilot.p99_ms:+7.1%} {'':4s} live against the pilot run (other "
              f"queries), in the 'sim' columns")
    out = []
    for label, p in sims:
        sim = simulate(pool, p, workload, policy_from_name(args.policy), rate=rate, qos_ms=qos,
                       n_queries=args.queries, seed=1, policy_profile=prof)  # what the live client's policy read
        d_att = (live.qos_attainment - sim.qos_attainment) * 100
        d_p99 = ((live.p99_ms - sim.p99_ms) / sim.p99_ms if np.isfinite(live.p99_ms) and np.isfinite(sim.p99_ms)
                 else np.nan)
        ok = abs(d_att) <= 2.0 and abs(d_p99) <= 0.10
        out.append((f"{model}@{f:.0%}", label, None if busy else ok))
        print(f"   {f:4.0%} {rate:7.1f} {live.qos_attainment:9.2%} {sim.qos_attainment:9.2%} {d_att:+8.2f} "
              f"{live.p99_ms:9.3f} {sim.p99_ms:9.3f} {d_p99:+7.1%} {'busy' if busy else 'ok' if ok else 'MISS':4s} "
              f"{label}: {p.overhead!r}")
    print(split_line(live) + f"; CPU share of a core: client {cpu['client']:.0%}, servers {cpu['servers']:.0%}")
    return out


def main(args: argparse.Namespace) -> None:
    print(f"load average before: {', '.join(f'{x:.1f}' for x in os.getloadavg())} on {os.cpu_count()} cores; "
          f"event loop {'uvloop' if loop_factory() else 'asyncio'} (KAIROS_EVENT_LOOP=asyncio|uvloop)")
    workload = Workload.deeprecsys()
    fractions = [float(f) for f in args.fractions.split(",")]
    verdicts = []
    for model in args.models.split(","):
        qos = PAPER_QOS_MS[model]
        truth = Profile.builtin(model)
        overhead, cpu_ms = run_loop(measure_overhead(model, truth, args.repeats, args.inline))
        if args.no_overhead:
            overhead = Overhead.zero()
        prof = truth.with_overhead(overhead)
        catalog = default_catalog().restrict(truth.instance_types)
        print(f"\n== {model}: QoS {qos:g} ms at p99; overhead {overhead!r}")
        try:
            plan = Planner(prof, catalog, workload, qos_ms=qos).plan(budget=args.budget)
        except InfeasibleError as exc:
            # the target is out of reach with this overhead; live and simulated can still be
            # compared on the pool planned without it (the simulation keeps the overhead)
            print(f"   no plan with the overhead: {exc}\n   comparing the pool planned without it instead")
            plan = Planner(truth, catalog, workload, qos_ms=qos).plan(budget=args.budget)
        pool = plan.pool()
        share = cpu_share()
        cap = args.cap_share * share * 1000.0 / cpu_ms
        rates = [(f, round(f * plan.predicted_qps, 1)) for f in fractions]
        cut = [f"{f:.0%} ({r:g} qps)" for f, r in rates if r > cap]
        print(f"   planned {pool!r}, {plan.predicted_qps:.1f} qps; client CPU {cpu_ms:.2f} ms/query"
              f"{' (servers included)' if args.inline else ''}, this process gets {share:.0%} of a core -> "
              f"cap {cap:.0f} qps{'; cuts ' + ', '.join(cut) if cut else ''}")
        print(f"   {'rate':>12s} {'att. live':>9s} {'att. sim':>9s} {'d (pts)':>8s} {'p99 live':>9s} "
              f"{'p99 sim':>9s} {'d p99':>7s}")
        for f, rate in rates:
            if rate <= cap:
                verdicts += compare(model, pool, prof, truth, workload, args, f, rate)
    print(f"\nload average after: {', '.join(f'{x:.1f}' for x in os.getloadavg())}")
    for label in ("pilot", "sequential"):
        mine = [(m, ok) for m, lab, ok in verdicts if lab == label]
        if mine:
            print(f"with the {label} overhead: within targets: {', '.join(m for m, ok in mine if ok) or 'none'}; "
                  f"outside: {', '.join(m for m, ok in mine if ok is False) or 'none'}; "
                  f"not judged (a process above {args.busy_share:.0%} of a core): "
                  f"{', '.join(m for m, ok in mine if ok is None) or 'none'}")


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", default=",".join(MODELS))
    ap.add_argument("--queries", type=int, default=2000)
    ap.add_argument("--fractions", default="0.3,0.7,0.9")
    ap.add_argument("--budget", type=float, default=PAPER_BUDGET_PER_HOUR)
    ap.add_argument("--policy", choices=policy_names(), default="kairos")
    ap.add_argument("--repeats", type=int, default=40, help="overhead measurements per (type, batch size)")
    ap.add_argument("--cap-share", type=float, default=0.5,
                    help="share of the process's core share the client may use: "
                         "cap = cap_share * core share * 1000 / client CPU ms per query")
    ap.add_argument("--inline", action="store_true",
                    help="serve the endpoints in the client's event loop instead of a child process")
    ap.add_argument("--no-pilot", action="store_true",
                    help="skip the pilot live run at each rate (other queries) whose overhead is simulated too")
    ap.add_argument("--busy-share", type=float, default=0.6,
                    help="a run whose client or servers' process used more than this share of a core is "
                         "printed but not judged (the machine's two cores, not the client, were the limit)")
    ap.add_argument("--no-overhead", action="store_true", help="plan and simulate without the overhead (as before)")
    main(ap.parse_args())
