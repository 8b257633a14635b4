"""Moore–Hodgson's rule: which jobs to give up so that all the others finish by their
deadlines (the schedule behind ``KairosPolicy(set_aside="schedule")``)."""

from __future__ import annotations

import heapq
from typing import Any

__all__ = ["doomed"]


def doomed(jobs: list[tuple[float, float, int]], free_ms: list[float], prefer: Any = ()) -> list[int]:
    """Which jobs to give up so that all the others finish by their deadlines, on
    ``len(free_ms)`` identical machines (Moore-Hodgson's rule).

    ``jobs`` are ``(deadline_ms, service_ms, key)`` and ``free_ms`` when each machine can
    start. The jobs run in deadline order, each on the machine that frees first; whenever
    one would finish late, the longest job scheduled so far is given up — the longest of
    those whose key is in ``prefer`` when there are any (jobs that have somewhere else to
    go). Without ``prefer``, on one machine this keeps the largest possible number of jobs
    on time (Moore, *Management Science* 15(1), 1968) in O(n log n); on several machines
    the schedule is redone after each job given up (the usual list-scheduling extension,
    O(n^2) at worst). Returns the keys given up, in the order they were.

    >>> from kairos_sdk.distribute.schedule import doomed
    >>> doomed([(10.0, 4.0, 0), (10.0, 4.0, 1), (11.0, 5.0, 2)], [0.0])
    [2]
    >>> doomed([(10.0, 4.0, 0), (10.0, 4.0, 1), (11.0, 5.0, 2)], [0.0], prefer={0})
    [0]
    >>> doomed([(10.0, 4.0, 0), (10.0, 4.0, 1), (11.0, 5.0, 2)], [0.0, 0.0])
    []
    """
    out: list[int] = []
    if len(free_ms) == 1:
        # removing a job only moves the later ones earlier: the job just added is the only
        # one that can be late
        end = free_ms[0]
        heaps: tuple[list[tuple[float, int]], list[tuple[float, int]]] = ([], [])  # (preferred, other)
        for d, p, k in sorted(jobs):
            heapq.heappush(heaps[0] if k in prefer else heaps[1], (-p, k))
            end += p
            while end > d and (heaps[0] or heaps[1]):
                q, gone = heapq.heappop(heaps[0] or heaps[1])
                end += q
                out.append(gone)
        return out
    kept: list[tuple[float, float, int]] = []
    free = list(free_ms)  # the machines after the kept jobs (all on time)
    for job in sorted(jobs):
        kept.append(job)  # the latest deadline so far: it runs last, the others stay put
        j = free.index(min(free))
        free[j] += job[1]
        late = free[j] > job[0]
        while late:
            pool = [jb for jb in kept if jb[2] in prefer] or kept
            x = max(pool, key=lambda jb: jb[1])
            kept.remove(x)
            out.append(x[2])
            free, late = list(free_ms), False  # redo the schedule without it
            for d, p, _ in kept:
                j = free.index(min(free))
                free[j] += p
                if free[j] > d:
                    late = True
                    break
    return out
