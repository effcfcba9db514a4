from django.apps import AppConfig


class RelationshipsConfig(AppConfig):
    name = "sampleapp.web.relationships"
    label = "relationships"
    default_auto_field = "django.db.models.BigAutoField"
