from django.urls import path

from demo import views

# Mounted at /demo/: the traffic page, and the participants over HTTP under api/.
urlpatterns = [
    path("", views.traffic_page, name="traffic"),
    path("api/<slug:service>/<slug:operation>/", views.participant, name="participant"),
    path("api/noop/", views.participant, {"service": "noop", "operation": "noop"}, name="noop"),
]
