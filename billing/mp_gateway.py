"""The official ``mercadopago`` SDK behind a small async adapter.

The SDK is synchronous (``requests``), so every call runs in a thread with a timeout. Its API root is a
constant, so a different base URL (a sandbox proxy, the test emulator) is set through the SDK's own
``http_client`` parameter: a client that rewrites the SDK's root into the configured one.
"""

from __future__ import annotations

import asyncio
from typing import Any

import mercadopago
from mercadopago.config import RequestOptions
from mercadopago.config.config import Config as SdkConfig
from mercadopago.http import HttpClient

from billing.config import MercadoPagoConfig
from billing.errors import PaymentProviderError

_SDK_ROOT = SdkConfig().api_base_url


class BaseUrlHttpClient(HttpClient):  # type: ignore[misc]
    """The SDK's HTTP client, pointed at ``base_url`` instead of the SDK's built-in API root."""

    def __init__(self, base_url: str) -> None:
        super().__init__()
        self._base_url = base_url.rstrip("/")

    def request(
        self,
        method: str,
        url: str,
        maxretries: int | None = None,
        retry_on: list[int] | None = None,
        backoff_factor: float | None = None,
        **kwargs: Any,
    ) -> Any:
        if url.startswith(_SDK_ROOT):
            url = self._base_url + url[len(_SDK_ROOT) :]
        return super().request(
            method, url, maxretries=maxretries, retry_on=retry_on, backoff_factor=backoff_factor, **kwargs
        )


class MercadoPagoGateway:
    def __init__(self, config: MercadoPagoConfig) -> None:
        self._config = config
        client = None if config.base_url.rstrip("/") == _SDK_ROOT else BaseUrlHttpClient(config.base_url)
        self._sdk = mercadopago.SDK(config.access_token or "unconfigured", http_client=client)

    def _options(self, idempotency_key: str | None = None) -> Any:
        headers = {"x-idempotency-key": idempotency_key} if idempotency_key else None
        return RequestOptions(
            connection_timeout=float(self._config.timeout_s),
            custom_headers=headers,
            max_retries=self._config.max_retries,
        )

    async def _run(self, what: str, call: Any) -> dict[str, Any]:
        if not self._config.access_token:
            raise PaymentProviderError("Mercado Pago is not configured (no access token)")
        # The SDK's own timeout bounds each attempt; this bounds attempts + retries together.
        budget_s = self._config.timeout_s * (self._config.max_retries + 1) + 1.0
        try:
            async with asyncio.timeout(budget_s):
                result = await asyncio.to_thread(call)
        except TimeoutError:
            raise PaymentProviderError(f"Mercado Pago did not answer {what} in time") from None
        except Exception as exc:
            raise PaymentProviderError(f"Mercado Pago {what} failed: {type(exc).__name__}") from exc
        return {"status": int(result.get("status", 0)), "response": result.get("response")}

    async def create_preference(self, preference: dict[str, Any], idempotency_key: str) -> dict[str, Any]:
        """Create a Checkout Pro preference; the same ``idempotency_key`` gives back the same preference."""
        options = self._options(idempotency_key)
        result = await self._run("preference", lambda: self._sdk.preference().create(preference, options))
        if result["status"] not in (200, 201) or not isinstance(result["response"], dict):
            raise PaymentProviderError(f"Mercado Pago refused the preference (HTTP {result['status']})")
        body: dict[str, Any] = result["response"]
        return body

    async def get_payment(self, payment_id: str) -> dict[str, Any] | None:
        """The payment as Mercado Pago holds it now; None when it does not exist."""
        result = await self._run(
            "payment lookup", lambda: self._sdk.payment().get(payment_id, self._options())
        )
        if result["status"] == 404:
            return None
        if result["status"] != 200 or not isinstance(result["response"], dict):
            raise PaymentProviderError(f"Mercado Pago payment lookup failed (HTTP {result['status']})")
        body: dict[str, Any] = result["response"]
        return body
