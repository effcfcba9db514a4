"""Forms with the Rails field names and error messages.

``RailsForm`` names fields as ``form_for`` does (``user[name]``, id ``user_name``) so that the
pages, and tests written against the original, see the same form. The rules themselves live in
the models (``name_errors``, ``email_errors``, ``password_errors``); a form only gathers every
message they return, so a blank field reports each rule it breaks, as in the original.
"""

from __future__ import annotations

from contextlib import nullcontext
from typing import Any, ClassVar

from django import forms
from django.contrib.auth import authenticate
from django.db import IntegrityError, transaction
from django.forms import BoundField
from django.http import HttpRequest

from sampleapp.web.users.models import (
    EMAIL_TAKEN,
    User,
    email_errors,
    email_taken,
    name_errors,
    password_errors,
)
from sampleapp.web.users.password_checks import password_check


class RailsBoundField(BoundField):
    @property
    def auto_id(self) -> str:
        return f"{self.form.scope}_{self.name}"  # type: ignore[attr-defined]


class RailsForm(forms.Form):
    scope: ClassVar[str]
    bound_field_class = RailsBoundField

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("label_suffix", "")
        super().__init__(*args, **kwargs)

    def add_prefix(self, field_name: str) -> str:
        return f"{self.scope}[{field_name}]"

    def add_errors(self, errors: dict[str, list[str]]) -> None:
        for field, messages in errors.items():
            if messages:
                self.add_error(field, messages)

    def full_messages(self) -> list[str]:
        """Every message, in the order of the fields, for the shared error partial."""
        messages = [message for field in self for message in field.errors]
        return [str(m) for m in [*messages, *self.non_field_errors()]]


class SignupForm(RailsForm):
    scope = "user"
    creating = True

    name = forms.CharField(label="Name", required=False)
    email = forms.CharField(label="Email", required=False)
    password = forms.CharField(
        label="Password", required=False, strip=False, widget=forms.PasswordInput
    )
    password_confirmation = forms.CharField(
        label="Confirmation", required=False, strip=False, widget=forms.PasswordInput
    )

    def __init__(self, *args: Any, user: User | None = None, **kwargs: Any) -> None:
        self.user = user or User()
        kwargs.setdefault("initial", {"name": self.user.name, "email": self.user.email})
        super().__init__(*args, **kwargs)

    def clean(self) -> dict[str, Any]:
        data = self.cleaned_data
        self.add_errors(
            {
                "name": name_errors(data.get("name")),
                "email": email_errors(data.get("email"), exclude_pk=self.user.pk),
                **password_errors(
                    data.get("password", ""),
                    data.get("password_confirmation"),
                    creating=self.creating,
                ),
            }
        )
        return data

    def save(self) -> User | None:
        """The saved user, or None when a request at the same moment took the email after this
        form checked it: the unique index settles that race, and the form then says what
        validation would have said, keeping what was typed."""
        self.user.name = self.cleaned_data["name"]
        self.user.email = self.cleaned_data["email"]
        password = self.cleaned_data["password"]
        with password_check() if self.creating else nullcontext():  # sign-ups are anonymous
            if not self.user.check_password(password):  # the same one kept: other sessions stay
                self.user.set_password(password)
        try:
            with transaction.atomic():
                self.user.save()
        except IntegrityError:
            if not email_taken(self.user.email, self.user.pk):
                raise
            if self.user.pk is not None:
                self.user.refresh_from_db()  # the signed-in user, as stored
            self.add_error("email", EMAIL_TAKEN)
            return None
        return self.user


class ProfileForm(SignupForm):
    """The edit form: the same rules, except that the password may not be blank but is not
    required to be present (Rails' ``on: :create``); the length rule still asks for one."""

    creating = False

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["password_confirmation"].label = "Confirm Password"


class SessionForm(RailsForm):
    scope = "session"

    email = forms.CharField(label="Email", required=False)
    password = forms.CharField(
        label="Password", required=False, strip=False, widget=forms.PasswordInput
    )

    def find_user(self, request: HttpRequest) -> User | None:
        """The user these credentials sign in, if any. A field Django refuses (a NUL byte)
        signs in no one, like a wrong password."""
        if not self.is_valid():
            return None
        data = self.cleaned_data
        with password_check():
            user = authenticate(request, username=data["email"], password=data["password"])
        return user if isinstance(user, User) else None

    def unactivated_user(self) -> User | None:
        """The account these credentials are right for but that is not activated yet (Django's
        ``authenticate`` refuses it like a wrong password), so the page can say what to do."""
        if not self.is_valid():
            return None
        email, password = self.cleaned_data["email"], self.cleaned_data["password"]
        user = User.objects.filter(email=email.lower(), activated=False).first()
        if user is None:
            return None
        with password_check():
            return user if user.check_password(password) else None


class PasswordResetRequestForm(RailsForm):
    """ "Forgot password": the email to send a reset link to."""

    scope = "password_reset"

    email = forms.CharField(label="Email", required=False)

    def user(self) -> User | None:
        """The account with that email, if any; the page says the same either way."""
        if not self.is_valid():
            return None
        user: User | None = User.objects.filter(
            email=self.cleaned_data["email"].strip().lower()
        ).first()
        return user


class PasswordResetForm(RailsForm):
    """The new password, under the sign-up rules (a blank one is refused)."""

    scope = "user"

    password = forms.CharField(
        label="Password", required=False, strip=False, widget=forms.PasswordInput
    )
    password_confirmation = forms.CharField(
        label="Confirmation", required=False, strip=False, widget=forms.PasswordInput
    )

    def clean(self) -> dict[str, Any]:
        data = self.cleaned_data
        self.add_errors(
            password_errors(
                data.get("password", ""), data.get("password_confirmation"), creating=True
            )
        )
        return data
