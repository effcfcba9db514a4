from django.apps import AppConfig


class MicropostsConfig(AppConfig):
    name = "sampleapp.web.microposts"
    label = "microposts"
    default_auto_field = "django.db.models.BigAutoField"
