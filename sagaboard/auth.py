"""Signing in for scripts: the API token exchange."""

from __future__ import annotations

from typing import Any

from axes.handlers.proxy import AxesProxyHandler
from rest_framework import status
from rest_framework.authtoken.views import ObtainAuthToken
from rest_framework.request import Request
from rest_framework.response import Response

from common.api import error_response


class TokenApi(ObtainAuthToken):
    """``POST /api/auth/token/``: DRF's token exchange, answering 429 while sign-in is
    locked out for that username and address (django-axes), as the login page does."""

    def post(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        data = request.data if isinstance(request.data, dict) else {}
        username = str(data.get("username", ""))[:150]
        if username and AxesProxyHandler.is_locked(request._request, {"username": username}):
            return error_response(
                "Too many failed sign-ins for this user from this address; try again later.",
                status.HTTP_429_TOO_MANY_REQUESTS,
            )
        return super().post(request, *args, **kwargs)
