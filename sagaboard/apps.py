from django.apps import AppConfig


class SagaboardConfig(AppConfig):
    name = "sagaboard"
    verbose_name = "Sagaboard"
