"""API plumbing shared by every app: the error format of DESIGN.md."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import PermissionDenied, RequestDataTooBig
from django.db import InterfaceError, OperationalError
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.views.defaults import page_not_found
from drf_spectacular.utils import inline_serializer
from rest_framework import exceptions, serializers, status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from common.errors import Conflict, InvalidInput, NotAllowed


def _flatten(detail: Any, prefix: str = "") -> list[dict[str, Any]]:
    """DRF's nested validation detail as a flat list of {step, field, message}."""
    if isinstance(detail, dict):
        items: list[dict[str, Any]] = []
        for key, value in detail.items():
            name = f"{prefix}.{key}" if prefix else str(key)
            if key == "non_field_errors":
                name = prefix
            items.extend(_flatten(value, name))
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


#: Seconds a client is asked to wait when the database could not be reached.
RETRY_AFTER_S = 1


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
    if isinstance(exc, OperationalError | InterfaceError):
        # The database went away under the request (a restart, a dropped connection).
        # Its transaction is almost surely rolled back; the next request gets a fresh
        # connection (health-checked). A run start with its idempotency key, and any act,
        # can be sent again safely: a repeat returns the same run or answers 409.
        response = error_response(
            "The database could not be reached while answering this request; try again.",
            status.HTTP_503_SERVICE_UNAVAILABLE,
        )
        response["Retry-After"] = str(RETRY_AFTER_S)
        return response
    found = drf_exception_handler(exc, context)
    if found is not None and isinstance(found.data, dict) and "detail" in found.data:
        found.data = {"detail": str(found.data["detail"]), "errors": []}
    return found


#: The answers every operation may give besides its own, as DESIGN.md's "API" says.
_ERRORS_ALWAYS = {
    "401": "Not signed in (no session, or a missing or wrong token).",
    "403": "Visible, but not yours to do.",
    "404": "No such object, or not visible to you.",
    "503": "The database could not be reached while answering; try again after "
    "`Retry-After` seconds.",
}
_ERRORS_INPUT = {
    "400": "Bad input; nothing was stored. `errors` says where.",
}
_ERRORS_WRITE = {
    "409": "The object's current state does not allow this; `detail` says why.",
    "415": "The body is not JSON, a form or multipart data that can be read.",
}


def document_errors(result: dict[str, Any], generator: Any, request: Any, public: bool) -> dict:
    """drf-spectacular post-processing: the error answers and their JSON shape, on every
    operation, so clients (and schema-driven tests) know them."""
    schemas = result.setdefault("components", {}).setdefault("schemas", {})
    schemas["Error"] = {
        "type": "object",
        "required": ["detail", "errors"],
        "properties": {
            "detail": {"type": "string"},
            "errors": {
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {
                        "step": {"type": "string", "nullable": True},
                        "field": {"type": "string", "nullable": True},
                        "message": {"type": "string"},
                    },
                },
            },
        },
    }
    content = {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}
    for path, operations in result.get("paths", {}).items():
        for method, operation in operations.items():
            if not isinstance(operation, dict) or "responses" not in operation:
                continue
            errors = dict(_ERRORS_ALWAYS)
            if method != "get" or operation.get("parameters"):
                errors.update(_ERRORS_INPUT)
            if method != "get":
                errors.update(_ERRORS_WRITE)
            if path.endswith("/auth/token/"):
                errors["429"] = "Too many failed sign-ins for this user from this address."
            for code, description in errors.items():
                operation["responses"].setdefault(
                    code, {"description": description, "content": content}
                )
    return result


def not_found(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    """Django's 404 for what no URL matches: JSON under /api/, the page elsewhere."""
    if request.path.startswith("/api/"):
        return JsonResponse({"detail": "Not found.", "errors": []}, status=404)
    return page_not_found(request, exception or Http404())


def page_of(serializer: type[serializers.Serializer], *, counted: bool = True) -> Any:
    """The schema of one page of ``serializer`` items, for views that paginate by hand:
    ``{count, next, previous, results}`` (page numbers) or without ``count`` (cursors)."""
    fields: dict[str, Any] = {
        "next": serializers.URLField(allow_null=True),
        "previous": serializers.URLField(allow_null=True),
        "results": serializer(many=True),
    }
    if counted:
        fields["count"] = serializers.IntegerField()
    name = serializer.__name__.removesuffix("Serializer")
    return inline_serializer(name=f"Paginated{name}List", fields=fields)
