"""The designer pages, included at /workflows/ with the namespace "designer"."""

from django.urls import path

from designer import canvas, views

app_name = "designer"

VERSION = "<slug:slug>/versions/<int:number>/"

urlpatterns = [
    path("", views.workflow_list, name="workflow-list"),
    # Under "-/" so that no workflow slug can shadow it (a workflow may be slugged "new").
    path("-/new/", views.workflow_create, name="workflow-create"),
    path("<slug:slug>/", views.workflow_detail, name="workflow-detail"),
    path("<slug:slug>/permissions/", views.workflow_permissions, name="workflow-permissions"),
    path("<slug:slug>/designer/", canvas.designer_new, name="designer-new"),
    path("<slug:slug>/versions/new/", views.version_create, name="version-create"),
    path(VERSION, views.version_detail, name="version-detail"),
    path(VERSION + "edit/", views.version_edit, name="version-edit"),
    path(VERSION + "submit/", views.version_submit, name="version-submit"),
    path(VERSION + "publish/", views.version_publish, name="version-publish"),
    path(VERSION + "review/", views.version_review, name="version-review"),
    path(VERSION + "diff/", views.version_diff, name="version-diff"),
    path(VERSION + "designer/", canvas.designer_version, name="designer-version"),
]
