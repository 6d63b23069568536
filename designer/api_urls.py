from django.urls import path

from designer import apis, audit_apis, canvas

urlpatterns = [
    path("workflows/", apis.WorkflowListApi.as_view(), name="workflow-list"),
    path("workflows/<slug:slug>/", apis.WorkflowDetailApi.as_view(), name="workflow-detail"),
    path(
        "workflows/<slug:slug>/permissions/",
        apis.WorkflowPermissionsApi.as_view(),
        name="workflow-permissions",
    ),
    path("workflows/<slug:slug>/versions/", apis.VersionListApi.as_view(), name="version-list"),
    path(
        "workflows/<slug:slug>/versions/<int:number>/",
        apis.VersionDetailApi.as_view(),
        name="version-detail",
    ),
    path(
        "workflows/<slug:slug>/versions/<int:number>/submit/",
        apis.VersionSubmitApi.as_view(),
        name="version-submit",
    ),
    path(
        "workflows/<slug:slug>/versions/<int:number>/reviews/",
        apis.VersionReviewApi.as_view(),
        name="version-reviews",
    ),
    path(
        "workflows/<slug:slug>/versions/<int:number>/publish/",
        apis.VersionPublishApi.as_view(),
        name="version-publish",
    ),
    path(
        "workflows/<slug:slug>/versions/<int:number>/diff/",
        apis.VersionDiffApi.as_view(),
        name="version-diff",
    ),
    path(
        "workflows/<slug:slug>/versions/<int:number>/graph.svg",
        apis.VersionGraphApi.as_view(),
        name="version-graph",
    ),
    path("audit/", audit_apis.AuditListApi.as_view(), name="audit"),
    path("audit/csv/", audit_apis.AuditCsvApi.as_view(), name="audit-csv"),
    path("validate/", apis.ValidateApi.as_view(), name="validate"),
    path("activities/", apis.ActivityListApi.as_view(), name="activity-list"),
    path("groups/", canvas.GroupListApi.as_view(), name="group-list"),
    path("layout/", canvas.LayoutApi.as_view(), name="layout"),
    path("simulate/", canvas.SimulateApi.as_view(), name="simulate"),
    path("convert/", canvas.ConvertApi.as_view(), name="convert"),
]
