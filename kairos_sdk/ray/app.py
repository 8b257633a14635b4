"""A :class:`~kairos_sdk.Plan` as one Ray Serve application routed by KAIROS.

One deployment whose replica count is the plan's instance count; every replica asks for one
:data:`~kairos_sdk.ray.SLOT_RESOURCE`, which each planned node carries once
(:func:`~kairos_sdk.ray.to_ray_cluster`), so each instance hosts one replica and a replica's
type is its node's. :class:`~kairos_sdk.ray.KairosRequestRouter` routes it.

Examples
--------
>>> from kairos_sdk.ray import deploy, ReplayModel                    # doctest: +SKIP
>>> handle = deploy(plan, profile, ReplayModel, qos_ms=350)            # doctest: +SKIP
>>> reply = await infer(handle, batch_size=180)                        # doctest: +SKIP
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping
from typing import Any

from ..errors import EndpointError, KairosError
from ..profile import Profile
from ._require import require_ray

require_ray()

import ray  # noqa: E402
from ray import serve  # noqa: E402
from ray.serve.config import RequestRouterConfig  # noqa: E402
from ray.serve.deployment import Application, Deployment  # noqa: E402

from .cluster import INSTANCE_TYPE_LABEL, SLOT_RESOURCE, _counts  # noqa: E402
from .model import ReplayModel  # noqa: E402
from .router import router_config  # noqa: E402

__all__ = ["build_app", "deploy", "infer", "scaled_profile", "cluster_slots"]

ROUTERS = ("kairos", "power-of-two")


def scaled_profile(profile: Profile, factor: float) -> Profile:
    """The same profile with every latency multiplied by ``factor`` (for time-scaled replays)."""
    if not (factor > 0):
        raise KairosError(f"time_scale must be positive, got {factor!r}")
    if factor == 1.0:
        return profile
    doc = profile.to_dict()
    for s in doc["instances"].values():
        s["values"] = [[v * factor for v in row] for row in s["values"]]
        s["mean_ms"] = [v * factor for v in s["mean_ms"]]
    import json

    return Profile.from_json(json.dumps(doc))


def build_app(
    plan: Any,
    profile: Profile,
    model: Any = ReplayModel,
    *,
    qos_ms: float,
    percentile: float = 99.0,
    name: str = "kairos",
    policy: str = "kairos",
    router: str = "kairos",
    workload: Any = None,
    time_scale: float = 1.0,
    num_cpus: float = 1.0,
    max_ongoing_requests: int = 1,
    model_args: tuple = (),
    model_kwargs: Mapping[str, Any] | None = None,
    seed: int | None = 0,
    **router_options: Any,
) -> Application:
    """One Serve application for the plan.

    Parameters
    ----------
    plan : a :class:`~kairos_sdk.Plan` or ``{instance type: count}``.
    profile : the latencies the router (and :class:`ReplayModel`) use.
    model : the user's deployment (a ``serve.deployment``) or class/callable; default
        :class:`ReplayModel`, bound to ``profile``, ``time_scale`` and ``seed``.
    qos_ms, percentile : the target the policy aims at (in profile time).
    name : the deployment's name.
    policy : the kairos_sdk policy the router applies (``"kairos"``, ``"least-work"``, ...).
    router : ``"kairos"`` (:class:`KairosRequestRouter`) or ``"power-of-two"`` (Ray Serve's
        default router, for comparisons).
    workload : the expected :class:`~kairos_sdk.Workload` (its batch mix prices instance time
        as in the simulator); default: the plan's routing, when it has one.
    time_scale : wall-clock time per profile time; the router gets the profile and
        ``qos_ms`` scaled alike, a :class:`ReplayModel` sleeps scaled latencies.
    num_cpus : CPUs each replica reserves (besides its node slot).
    max_ongoing_requests : requests a replica serves at once (1 = one instance, one query).
    model_args, model_kwargs : bound to a user model.
    router_options : passed to :func:`~kairos_sdk.ray.router_config` (``recheck_ms``,
        ``stats_period_s``, ``initial_backoff_s``, ...).

    Returns
    -------
    A Serve ``Application`` (``serve.run(app)`` deploys it; :func:`deploy` does both).
    """
    counts = _counts(plan)
    if not isinstance(profile, Profile):
        raise KairosError(f"profile must be a Profile, got {type(profile).__name__}")
    missing = sorted(set(counts) - set(profile.instance_types))
    if missing:
        raise KairosError(f"the plan rents {', '.join(missing)}, which the profile does not cover")
    if router not in ROUTERS:
        raise KairosError(f"router must be one of {', '.join(ROUTERS)}, got {router!r}")
    if not (qos_ms > 0):
        raise KairosError(f"qos_ms must be positive, got {qos_ms!r}")
    routed = scaled_profile(profile.restrict(counts), time_scale)
    mix = None
    if workload is not None:
        mix = dict(zip(workload.batch_sizes.tolist(), workload.probs.tolist()))
    elif isinstance(getattr(plan, "routing", None), Mapping) and plan.routing:
        tot: dict[int, float] = {}
        for by_batch in plan.routing.values():
            for b, r in by_batch.items():
                tot[int(b)] = tot.get(int(b), 0.0) + float(r)
        s = sum(tot.values())
        mix = {b: r / s for b, r in tot.items()} if s > 0 else None
    if router == "kairos":
        cfg = router_config(routed, qos_ms=float(qos_ms) * time_scale, percentile=percentile, policy=policy,
                            batch_mix=mix, **router_options)
    else:
        cfg = RequestRouterConfig(**{k: v for k, v in router_options.items()
                                     if k in ("initial_backoff_s", "backoff_multiplier", "max_backoff_s")})
    dep = model if isinstance(model, Deployment) else serve.deployment(model)
    dep = dep.options(
        name=name,
        num_replicas=sum(counts.values()),
        max_ongoing_requests=max_ongoing_requests,
        ray_actor_options={"num_cpus": num_cpus, "resources": {SLOT_RESOURCE: 1}},
        request_router_config=cfg,
    )
    if dep.func_or_class is ReplayModel.func_or_class:
        return dep.bind(profile.restrict(counts).to_dict(), time_scale=time_scale, seed=seed)
    return dep.bind(*model_args, **dict(model_kwargs or {}))


def cluster_slots() -> dict[str, int]:
    """``{instance type: replica slots}`` of the connected Ray cluster's live nodes."""
    out: dict[str, int] = {}
    for node in ray.nodes():
        if not node.get("Alive"):
            continue
        slots = int((node.get("Resources") or {}).get(SLOT_RESOURCE, 0))
        t = (node.get("Labels") or {}).get(INSTANCE_TYPE_LABEL)
        if slots and t:
            out[t] = out.get(t, 0) + slots
    return out


def deploy(plan: Any, profile: Profile, model: Any = ReplayModel, *, name: str = "kairos", qos_ms: float,
           percentile: float = 99.0, app_name: str | None = None, check_cluster: bool = True,
           **options: Any) -> Any:
    """Build the plan's application (:func:`build_app`) and run it on the connected Ray
    cluster; returns its ``DeploymentHandle``.

    With ``check_cluster`` the cluster must offer, per instance type, at least the plan's
    count of replica slots (nodes started from :func:`~kairos_sdk.ray.to_ray_cluster`, or
    labelled :data:`INSTANCE_TYPE_LABEL` with a :data:`SLOT_RESOURCE`); otherwise the
    replicas could not all be placed and :class:`~kairos_sdk.KairosError` says which type
    is short.
    """
    counts = _counts(plan)
    if check_cluster:
        if not ray.is_initialized():
            ray.init(address="auto")
        have = cluster_slots()
        short = {t: (n, have.get(t, 0)) for t, n in counts.items() if have.get(t, 0) < n}
        if short:
            what = ", ".join(f"{t}: {n} planned, {h} slots" for t, (n, h) in short.items())
            raise KairosError(f"the Ray cluster cannot host the plan ({what}); start it from to_ray_cluster(plan)")
    app = build_app(plan, profile, model, qos_ms=qos_ms, percentile=percentile, name=name, **options)
    return serve.run(app, name=app_name or name, route_prefix=None)


def _retryable(exc: BaseException) -> bool:
    from ray.exceptions import ActorDiedError, ActorUnavailableError, RayActorError

    return isinstance(exc, (ActorDiedError, ActorUnavailableError, RayActorError))


async def infer(handle: Any, inputs: Any = None, *, batch_size: int | None = None, attempts: int = 3,
                timeout_s: float | None = None) -> Any:
    """Send one request through a deployment handle and await its answer.

    A request whose replica died while serving it is sent again (up to ``attempts`` times
    in all); after that, or on a timeout, it fails with :class:`~kairos_sdk.EndpointError`
    naming the cause. An error the model raised is not retried and propagates as it is.
    """
    last: BaseException | None = None
    for _ in range(max(int(attempts), 1)):
        t0 = time.perf_counter()
        try:
            resp = handle.remote(inputs, batch_size=batch_size)
            if timeout_s is None:
                return await resp
            return await asyncio.wait_for(resp, timeout=timeout_s)
        except asyncio.TimeoutError:
            raise EndpointError(f"no answer within {timeout_s:g} s ({time.perf_counter() - t0:.3g} s waited)") from None
        except Exception as exc:
            if not _retryable(exc):
                raise
            last = exc
    raise EndpointError(f"the replica serving this request died {attempts} times; last error: {last}") from last
