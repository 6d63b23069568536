"""The live pages, included at the root with the namespace "engine"."""

from django.urls import path

from engine import views

app_name = "engine"

urlpatterns = [
    path("runs/", views.board, name="board"),
    path("runs/<uuid:run_id>/", views.run, name="run"),
    # The short id the board shows, pasted: the run it names, when it names one.
    path("runs/<str:run_prefix>/", views.run_prefix, name="run-prefix"),
    # Beside the designer's workflow pages (whose own patterns never end in overview/).
    path("workflows/<slug:slug>/overview/", views.workflow_overview, name="workflow-overview"),
    # The workflow page's "Start a run" (the page itself is the designer's).
    path("workflows/<slug:slug>/runs/new/", views.run_start, name="run-start"),
]
