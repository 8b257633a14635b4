"""The HTTP transport: one aiohttp session, auth headers, TLS settings, timeouts, and the
translation of aiohttp's errors into :mod:`kairos_sdk.errors` at the edge.

Internal: users configure it through :class:`~kairos_sdk.client.KairosClient`.
"""

from __future__ import annotations

import asyncio
import os
import ssl
from collections.abc import Mapping
from urllib.parse import urlsplit, urlunsplit

import aiohttp

from .._version import __version__
from ..errors import EndpointError, EndpointTimeout, KairosError
from .protocols import HttpRequest, HttpResponse

__all__ = ["AttemptError", "Transport", "display_url"]


class AttemptError(Exception):
    """One failed attempt: a failure ``kind`` (see :mod:`.retry`) and the user-facing error."""

    def __init__(self, kind: str, error: KairosError) -> None:
        super().__init__(str(error))
        self.kind = kind
        self.error = error


def display_url(url: str) -> str:
    """``url`` without user info, query or fragment (which may hold secrets)."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "<invalid url>"
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    netloc = host + (f":{parts.port}" if parts.port else "")
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


def _ssl_setting(verify: bool | str | ssl.SSLContext) -> bool | ssl.SSLContext:
    if isinstance(verify, ssl.SSLContext):
        return verify
    if verify is True:
        return True
    if verify is False:
        return False
    if isinstance(verify, str):
        try:
            return ssl.create_default_context(cafile=verify)
        except (OSError, ssl.SSLError) as exc:
            raise KairosError(f"verify={verify!r}: cannot load that CA bundle ({exc})") from None
    raise KairosError(f"verify must be True, False, a CA bundle path or an ssl.SSLContext, got {type(verify).__name__}")


class Transport:
    """A pooled aiohttp session that sends :class:`HttpRequest` s and returns :class:`HttpResponse` s.

    Parameters
    ----------
    headers : headers sent with every request (auth included); never shown in reprs or logs.
    verify : TLS verification: ``True`` (default), ``False``, a CA bundle path or an SSLContext.
    limit : most connections open at once over all endpoints.
    """

    def __init__(self, *, headers: Mapping[str, str] | None = None, verify: bool | str | ssl.SSLContext = True, limit: int = 100) -> None:
        self._headers = {"User-Agent": f"kairos-sdk/{__version__}", **dict(headers or {})}
        self._ssl = _ssl_setting(verify)
        self._limit = int(limit)
        self._session: aiohttp.ClientSession | None = None

    @property
    def header_names(self) -> tuple[str, ...]:
        return tuple(self._headers)

    async def open(self) -> None:
        if self._session is None:
            connector = aiohttp.TCPConnector(limit=self._limit, limit_per_host=0, ssl=self._ssl, keepalive_timeout=30.0)
            self._session = aiohttp.ClientSession(
                connector=connector,
                headers=self._headers,
                timeout=aiohttp.ClientTimeout(total=None),
                raise_for_status=False,
                auto_decompress=True,
            )

    async def close(self) -> None:
        if self._session is not None:
            session, self._session = self._session, None
            await session.close()

    @property
    def closed(self) -> bool:
        return self._session is None

    async def send(self, req: HttpRequest, endpoint: str, timeout: aiohttp.ClientTimeout) -> HttpResponse:
        """Send ``req``; HTTP errors come back as responses, network failures raise AttemptError."""
        session = self._session
        if session is None:
            raise AttemptError("connect", EndpointError(f"{endpoint}: the client is closed", endpoint=endpoint))
        try:
            async with session.request(req.method, req.url, data=req.body, headers=req.headers or None, timeout=timeout) as resp:
                body = await resp.read()
                return HttpResponse(resp.status, body, endpoint, resp.headers)
        except Exception as exc:
            raise self._translate(exc, req, endpoint, timeout) from None

    @staticmethod
    def _translate(exc: Exception, req: HttpRequest, endpoint: str, timeout: aiohttp.ClientTimeout) -> Exception:
        """aiohttp's exception → AttemptError carrying a kairos_sdk error (URLs shown without secrets)."""
        if isinstance(exc, (asyncio.TimeoutError, aiohttp.ServerTimeoutError)):
            t = timeout.total
            msg = f"{endpoint}: no answer within {t:g} s (timeout_s)" if t else f"{endpoint}: timed out"
            return AttemptError("timeout", EndpointTimeout(msg, endpoint=endpoint))
        if isinstance(exc, (aiohttp.ClientConnectorCertificateError, aiohttp.ClientSSLError)):
            msg = (f"{endpoint}: TLS failed ({_reason(exc, req.url)}); pass verify=<CA bundle path> for a private CA, "
                   "or verify=False for a trusted test server")
            return AttemptError("tls", EndpointError(msg, endpoint=endpoint))
        if isinstance(exc, aiohttp.ClientConnectorError):
            return AttemptError("connect", EndpointError(f"{endpoint}: cannot connect ({_reason(exc, req.url)})", endpoint=endpoint))
        if isinstance(exc, (aiohttp.InvalidURL, aiohttp.NonHttpUrlClientError)):
            return AttemptError("client_error", EndpointError(f"{endpoint}: invalid URL", endpoint=endpoint))
        if isinstance(exc, aiohttp.ServerDisconnectedError):
            msg = f"{endpoint}: the server closed the connection before answering"
            return AttemptError("connect", EndpointError(msg, endpoint=endpoint))
        if isinstance(exc, (aiohttp.ClientError, OSError)):
            msg = f"{endpoint}: connection failed ({type(exc).__name__}: {_reason(exc, req.url)})"
            return AttemptError("connect", EndpointError(msg, endpoint=endpoint))
        return exc

    def __repr__(self) -> str:
        return f"Transport(headers=[{', '.join(self._headers)}], verify={'on' if self._ssl is not False else 'off'}, limit={self._limit})"


def _reason(exc: BaseException, url: str) -> str:
    os_err = getattr(exc, "os_error", None)
    if os_err is not None and getattr(os_err, "errno", None):
        return os.strerror(os_err.errno).lower()
    if os_err is not None and getattr(os_err, "strerror", None):
        return str(os_err.strerror)
    text = str(exc)
    text = text.split("] ", 1)[-1] if text else type(exc).__name__
    return text.replace(url, display_url(url))
