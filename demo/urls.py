from django.urls import path

from demo import views

urlpatterns = [
    path("<slug:service>/<slug:operation>/", views.participant, name="participant"),
    path("noop/", views.participant, {"service": "noop", "operation": "noop"}, name="noop"),
]
