from django.urls import path

from engine import apis

urlpatterns = [
    path("workflows/<slug:slug>/runs/", apis.RunStartApi.as_view(), name="run-start"),
    path("workflows/<slug:slug>/stats/", apis.WorkflowStatsApi.as_view(), name="workflow-stats"),
    path("runs/", apis.RunListApi.as_view(), name="run-list"),
    path("runs/<str:run_id>/", apis.RunDetailApi.as_view(), name="run-detail"),
    path("runs/<str:run_id>/events/", apis.RunEventsApi.as_view(), name="run-events"),
    path("runs/<str:run_id>/compensate/", apis.RunCompensateApi.as_view(), name="run-compensate"),
    path("runs/<str:run_id>/cancel/", apis.RunCancelApi.as_view(), name="run-cancel"),
    path(
        "runs/<str:run_id>/steps/<str:step>/retry/", apis.StepRetryApi.as_view(), name="step-retry"
    ),
    path("runs/<str:run_id>/steps/<str:step>/skip/", apis.StepSkipApi.as_view(), name="step-skip"),
    path(
        "runs/<str:run_id>/steps/<str:step>/approve/",
        apis.StepApproveApi.as_view(),
        name="step-approve",
    ),
    path(
        "runs/<str:run_id>/steps/<str:step>/reject/",
        apis.StepRejectApi.as_view(),
        name="step-reject",
    ),
    path("callbacks/<str:token>/", apis.CallbackApi.as_view(), name="callback"),
]
