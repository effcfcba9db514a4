"""The follow form's one field, ``relationship[followed_id]``, read as an id or nothing."""

from __future__ import annotations

from django import forms

from sampleapp.web.users.forms import RailsForm


class FollowForm(RailsForm):
    scope = "relationship"

    followed_id = forms.IntegerField(widget=forms.HiddenInput)

    def followed_pk(self) -> int | None:
        return self.cleaned_data["followed_id"] if self.is_valid() else None
