from django.urls import path

import saga
from engine import apis, view_apis

#: An act's route: ``runs/{id}/<act>/`` (``run-<act>``), or on a step
#: ``runs/{id}/steps/{step}/<act>/`` (``step-<act>``), one per act of saga.ACTS; and the
#: acts on one iteration of a map (``iteration-<act>``).
act_patterns = [
    path(
        f"runs/<str:run_id>/steps/<str:step>/{name}/"
        if act.on_step
        else f"runs/<str:run_id>/{name}/",
        apis.act_view(name),
        name=f"{'step' if act.on_step else 'run'}-{name}",
    )
    for name, act in saga.ACTS.items()
] + [
    # One iteration of a map step: runs/{id}/steps/{step}/iterations/{index}/<act>/.
    path(
        f"runs/<str:run_id>/steps/<str:step>/iterations/<int:index>/{name}/",
        apis.act_view(name),
        name=f"iteration-{name}",
    )
    for name, act in saga.ACTS.items()
    if act.on_iteration
]

urlpatterns = [
    path("workflows/<slug:slug>/runs/", apis.RunStartApi.as_view(), name="run-start"),
    path("workflows/<slug:slug>/stats/", apis.WorkflowStatsApi.as_view(), name="workflow-stats"),
    path("runs/", apis.RunListApi.as_view(), name="run-list"),
    path("runs/<str:run_id>/", apis.RunDetailApi.as_view(), name="run-detail"),
    path("runs/<str:run_id>/events/", apis.RunEventsApi.as_view(), name="run-events"),
    path(
        "runs/<str:run_id>/steps/<str:step>/iterations/",
        apis.RunIterationsApi.as_view(),
        name="step-iterations",
    ),
    *act_patterns,
    path("callbacks/<str:token>/", apis.CallbackApi.as_view(), name="callback"),
    path("views/", view_apis.SavedViewListApi.as_view(), name="view-list"),
    path("views/<int:view_id>/", view_apis.SavedViewDetailApi.as_view(), name="view-detail"),
]
