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

__all__ = ["AttemptError", "Transport", "display_url", "redact", "url_secrets"]

#: what a secret is replaced with in messages
HIDDEN = "<hidden>"


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
        port = parts.port
    except ValueError:
        return "<invalid url>"
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    netloc = host + (f":{port}" if port else "")
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


def url_secrets(url: str) -> tuple[str, ...]:
    """The secrets a URL carries: its password (and the user name with it)."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return ()
    return tuple(v for v in (parts.password, f"{parts.username}:{parts.password}" if parts.password else None) if v)


def redact(text: str, secrets: tuple[str, ...]) -> str:
    """``text`` with every secret (longest first) replaced by ``<hidden>``; a secret a server
    echoes in an error body never reaches a message, a repr or a log line.

    >>> redact("401: bad header Authorization: Bearer s3cr3t", ("s3cr3t",))
    '401: bad header Authorization: Bearer <hidden>'
    """
    for s in secrets:
        if s in text:
            text = text.replace(s, HIDDEN)
    return text


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
        # every configured header value is a secret (a bearer token, an API key), also
        # without its "Bearer " prefix; too short a value would blank out unrelated text
        values = [v for k, v in (headers or {}).items()]
        values += [v.split(" ", 1)[1] for v in values if v.startswith("Bearer ")]
        self.secrets: tuple[str, ...] = tuple(sorted({v for v in values if len(v) >= 4}, key=len, reverse=True))
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

    async def send(self, req: HttpRequest, endpoint: str, timeout: aiohttp.ClientTimeout,
                   timeout_name: str = "timeout_s") -> HttpResponse:
        """Send ``req``; HTTP errors come back as responses, network failures raise AttemptError
        (a timeout's message names the setting ``timeout_name``)."""
        session = self._session
        if session is None:
            raise AttemptError("connect", EndpointError(f"{endpoint}: the client is closed", endpoint=endpoint))
        try:
            async with session.request(req.method, req.url, data=req.body, headers=req.headers or None, timeout=timeout) as resp:
                body = await resp.read()
                return HttpResponse(resp.status, body, endpoint, resp.headers)
        except Exception as exc:
            raise self._translate(exc, req, endpoint, timeout, timeout_name) from None

    @staticmethod
    def _translate(exc: Exception, req: HttpRequest, endpoint: str, timeout: aiohttp.ClientTimeout,
                   timeout_name: str = "timeout_s") -> Exception:
        """aiohttp's exception → AttemptError carrying a kairos_sdk error (URLs shown without secrets)."""
        if isinstance(exc, (asyncio.TimeoutError, aiohttp.ServerTimeoutError)):
            t = timeout.total
            msg = f"{endpoint}: no answer within {t:g} s ({timeout_name})" if t else f"{endpoint}: timed out"
            return AttemptError("timeout", EndpointTimeout(msg, endpoint=endpoint))
        if isinstance(exc, (aiohttp.ClientConnectorCertificateError, aiohttp.ClientSSLError)):
            msg = (f"{endpoint}: TLS failed ({_tls_reason(exc, req.url)}); pass verify=<CA bundle path> (or an "
                   "ssl.SSLContext) for a private or self-signed CA, or verify=False for a trusted test server")
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


def _tls_reason(exc: BaseException, url: str) -> str:
    """Why TLS failed, in words: certificate verification (self-signed, unknown CA, wrong
    host name) is named as such, not as the errno of the OS error that carries it."""
    cert = getattr(exc, "certificate_error", None)
    os_err = getattr(exc, "os_error", None)
    for e in (cert, os_err, exc):
        if isinstance(e, ssl.SSLCertVerificationError):
            detail = e.verify_message or e.reason or "certificate rejected"
            return f"certificate verification failed: {detail}"
    text = " ".join(str(x) for x in (cert, os_err, exc) if x is not None)
    if "CERTIFICATE_VERIFY_FAILED" in text or "certificate verify failed" in text:
        return "certificate verification failed"
    reason = getattr(os_err, "reason", None) or getattr(exc, "reason", None)
    return str(reason).lower().replace("_", " ") if reason else _reason(exc, url)


def _reason(exc: BaseException, url: str) -> str:
    os_err = getattr(exc, "os_error", None)
    if os_err is not None and getattr(os_err, "errno", None):
        return os.strerror(os_err.errno).lower()
    if os_err is not None and getattr(os_err, "strerror", None):
        return str(os_err.strerror)
    text = str(exc)
    text = text.split("] ", 1)[-1] if text else type(exc).__name__
    return text.replace(url, display_url(url))
