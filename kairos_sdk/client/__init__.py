"""Drive real inference endpoints: :class:`KairosClient`, wire protocols and live profiling.

The only package of kairos_sdk that does network I/O (with :mod:`kairos_sdk.endpoints`).

* :class:`KairosClient` — async client over a pool of endpoints; the same
  :class:`~kairos_sdk.distribute.Policy` object as in the simulator decides which instance
  serves which query. ``infer`` sends one query, ``run`` drives open-loop Poisson load and
  returns the same :class:`~kairos_sdk.results.RunResult` as ``simulate``.
* Protocols — :class:`OpenInferenceProtocol` (KServe V2 / MLServer / Triton),
  :class:`TorchServeProtocol`, :class:`JSONProtocol`: pure request builders and parsers.
* :class:`RetryPolicy` — retries, backoff and probing of failed endpoints.
* Settings — :class:`Timeouts`, :class:`Limits`, :class:`Auth`: small frozen objects for
  what the client's plain keywords (``timeout_s=``, ``concurrency=``, ``token=``) do not cover.
* :func:`measure_profile` — measure a :class:`~kairos_sdk.Profile` from live endpoints.

Examples
--------
>>> from kairos_sdk.client import KairosClient, OpenInferenceProtocol, RetryPolicy
>>> RetryPolicy().max_attempts
3
"""

from __future__ import annotations

from .core import KairosClient, QueryFailed, Reply
from .profiling import measure_profile
from .protocols import (
    HttpRequest,
    HttpResponse,
    InferenceProtocol,
    JSONProtocol,
    ModelMetadata,
    OpenInferenceProtocol,
    TensorSpec,
    TorchServeProtocol,
)
from .retry import RetryPolicy
from .settings import Auth, Limits, Timeouts

__all__ = [
    "Auth",
    "HttpRequest",
    "HttpResponse",
    "InferenceProtocol",
    "JSONProtocol",
    "KairosClient",
    "Limits",
    "ModelMetadata",
    "OpenInferenceProtocol",
    "QueryFailed",
    "Reply",
    "RetryPolicy",
    "TensorSpec",
    "Timeouts",
    "TorchServeProtocol",
    "measure_profile",
]
