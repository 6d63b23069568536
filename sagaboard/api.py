"""API plumbing shared by every app: the error format of DESIGN.md."""

from __future__ import annotations

from typing import Any

from axes.handlers.proxy import AxesProxyHandler
from django.core.exceptions import PermissionDenied, RequestDataTooBig
from django.http import Http404
from rest_framework import exceptions, status
from rest_framework.authtoken.views import ObtainAuthToken
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from sagaboard.errors import Conflict, InvalidInput, NotAllowed


def _flatten(detail: Any, prefix: str = "") -> list[dict[str, Any]]:
    """DRF's nested validation detail as a flat list of {step, field, message}."""
    if isinstance(detail, dict):
        items: list[dict[str, Any]] = []
        for key, value in detail.items():
            name = f"{prefix}.{key}" if prefix else str(key)
            if key == "non_field_errors":
                name = prefix or None
            items.extend(_flatten(value, name or ""))
        return items
    if isinstance(detail, list):
        items = []
        for index, value in enumerate(detail):
            if isinstance(value, dict | list):
                items.extend(_flatten(value, f"{prefix}[{index}]"))
            else:
                items.extend(_flatten(value, prefix))
        return items
    return [{"step": None, "field": prefix or None, "message": str(detail)}]


def error_response(detail: str, code: int, errors: list[dict[str, Any]] | None = None) -> Response:
    return Response({"detail": detail, "errors": errors or []}, status=code)


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    if isinstance(exc, InvalidInput):
        return error_response(exc.detail, status.HTTP_400_BAD_REQUEST, exc.errors)
    if isinstance(exc, Conflict):
        return error_response(str(exc), status.HTTP_409_CONFLICT)
    if isinstance(exc, NotAllowed | PermissionDenied):
        return error_response(str(exc) or "You may not do this.", status.HTTP_403_FORBIDDEN)
    if isinstance(exc, Http404):
        return error_response(str(exc) or "Not found.", status.HTTP_404_NOT_FOUND)
    if isinstance(exc, RequestDataTooBig):
        return error_response("The request body is too large.", status.HTTP_400_BAD_REQUEST)
    if isinstance(exc, exceptions.ValidationError):
        return error_response("Invalid input.", status.HTTP_400_BAD_REQUEST, _flatten(exc.detail))
    response = drf_exception_handler(exc, context)
    if response is not None and isinstance(response.data, dict) and "detail" in response.data:
        response.data = {"detail": str(response.data["detail"]), "errors": []}
    return response


class TokenApi(ObtainAuthToken):
    """``POST /api/auth/token/``: DRF's token exchange, answering 429 while sign-in is
    locked out for that username and address (django-axes), as the login page does."""

    def post(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        username = str(request.data.get("username", ""))[:150]
        if username and AxesProxyHandler.is_locked(request._request, {"username": username}):
            return error_response(
                "Too many failed sign-ins for this user from this address; try again later.",
                status.HTTP_429_TOO_MANY_REQUESTS,
            )
        return super().post(request, *args, **kwargs)
