"""The micropost form: ``micropost[content]``, id ``micropost_content``, the model's messages."""

from __future__ import annotations

from typing import Any

from django import forms

from sampleapp.web.microposts.models import Micropost, content_errors
from sampleapp.web.users.forms import RailsForm
from sampleapp.web.users.models import User


class MicropostForm(RailsForm):
    scope = "micropost"

    content = forms.CharField(required=False, strip=False)  # a textarea: _micropost_form.html

    def clean(self) -> dict[str, Any]:
        self.add_errors({"content": content_errors(self.cleaned_data.get("content"))})
        return self.cleaned_data

    def save(self, user: User) -> Micropost:
        return Micropost.objects.create(user=user, content=self.cleaned_data["content"])
