import pytest


@pytest.mark.django_db
def test_pagerduty_is_in_the_catalogue_after_migrate(pagerduty_app):
    assert pagerduty_app.name == "PagerDuty"
