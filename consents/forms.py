from __future__ import annotations

from django import forms


class ConsentCategoryForm(forms.Form):
    name = forms.CharField(max_length=100, help_text="The id tracked in 'category'.")
    label = forms.CharField(max_length=200, required=False)
    description = forms.CharField(
        max_length=2000, required=False, widget=forms.Textarea(attrs={"rows": 2})
    )
    legitimate_interest = forms.BooleanField(required=False)
