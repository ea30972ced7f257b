"""Forms of access reviews: Start access review, and a reviewer's decision on an item."""

from __future__ import annotations

from django import forms
from django.contrib.auth import get_user_model
from django.db.models import QuerySet
from django.utils import timezone

from integrations.models import Integration
from integrations.reviews.models import AccessReview, ReviewItem


class UserChoice(forms.ModelMultipleChoiceField):
    def label_from_instance(self, user):
        full = user.get_full_name()
        return f"{full} ({user.get_username()})" if full else user.get_username()


class StartReviewForm(forms.Form):
    integration = forms.ModelChoiceField(queryset=Integration.objects.none())
    name = forms.CharField(max_length=200, help_text="For example: on-call access, Q3.")
    scope = forms.ChoiceField(choices=AccessReview.Scope.choices, initial=AccessReview.Scope.ALL)
    due_date = forms.DateField(widget=forms.DateInput(attrs={"type": "date"}), help_text="YYYY-MM-DD")
    reviewers = UserChoice(
        queryset=get_user_model().objects.none(),
        required=False,
        help_text="Members of the integration's tenant. None chosen: the integration's Primary Application Owner.",
        widget=forms.SelectMultiple(attrs={"size": 6}),
    )
    repeat_every_days = forms.IntegerField(
        required=False, min_value=1, max_value=3650,
        help_text="Optional: open the next review of this integration this many days later (e.g. 90).",
    )

    def __init__(self, *args, integrations: QuerySet[Integration], members: QuerySet, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["integration"].queryset = integrations
        self.fields["reviewers"].queryset = members
        if integrations.count() == 1:
            self.fields["integration"].initial = integrations.first()

    def clean_due_date(self):
        due = self.cleaned_data["due_date"]
        if due < timezone.localdate():
            raise forms.ValidationError("The due date is in the past.")
        return due


class DecisionForm(forms.Form):
    decision = forms.ChoiceField(choices=ReviewItem.Decision.choices, widget=forms.RadioSelect)
    new_role = forms.ChoiceField(
        label="Change role to", required=False, help_text="Only for Change role."
    )
    comment = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3, "cols": 60}),
        required=False,
        help_text="Required for Revoke and Change role: why.",
    )

    def __init__(self, *args, item: ReviewItem, **kwargs):
        super().__init__(*args, **kwargs)
        roles = item.review.integration.roles
        self.fields["new_role"].choices = [("", "---------"), *roles.display_names.items()]
        if item.decision and not self.is_bound:
            self.initial.update(decision=item.decision, new_role=item.new_role, comment=item.comment)
