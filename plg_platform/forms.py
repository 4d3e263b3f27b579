"""Forms of the platform's pages: inviting a member, choosing a password to accept."""

from __future__ import annotations

from django import forms

from plg_platform.models import Role

PASSWORDS_DIFFER = "The two passwords differ."


class InviteForm(forms.Form):
    email = forms.EmailField(label="E-mail", max_length=254)
    role = forms.ChoiceField(choices=Role.choices, initial=Role.VIEWER)


class NewAccountForm(forms.Form):
    password1 = forms.CharField(
        label="Choose a password",
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
    )
    password2 = forms.CharField(
        label="The same password again",
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
    )

    def clean(self) -> dict:
        cleaned = super().clean()
        if cleaned.get("password1") != cleaned.get("password2"):
            self.add_error("password2", PASSWORDS_DIFFER)
        return cleaned
