"""WebSocket routes of the live streams (DESIGN.md: /ws/board/, /ws/workflows/{slug}/,
/ws/runs/{id}/)."""

from __future__ import annotations

from django.urls import path, re_path

from engine.consumers import BoardConsumer, NoSuchStream, RunConsumer, WorkflowConsumer

websocket_urlpatterns = [
    path("ws/board/", BoardConsumer.as_asgi()),
    # Any string: what is not a visible workflow or run is refused alike (4403).
    path("ws/workflows/<str:slug>/", WorkflowConsumer.as_asgi()),
    path("ws/runs/<str:run_id>/", RunConsumer.as_asgi()),
    re_path(r"", NoSuchStream.as_asgi()),
]
