from django.apps import AppConfig


class DemoConfig(AppConfig):
    name = "demo"
    verbose_name = "Demo participants"

    def ready(self) -> None:
        # Registers the demo.* task activities.
        from demo import activities  # noqa: F401
