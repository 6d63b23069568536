from django.apps import AppConfig


class EngineConfig(AppConfig):
    name = "engine"
    verbose_name = "Saga engine"

    def ready(self) -> None:
        from engine import tracing

        tracing.configure()
