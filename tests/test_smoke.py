import pytest

from apps.domains.permissions import can_edit, can_view


@pytest.mark.django_db
def test_bob_sees_hr_and_charlie_does_not(hr, bob, charlie, alice):
    assert can_view(bob, hr)
    assert not can_view(charlie, hr)
    assert can_edit(alice, hr)
    assert not can_edit(bob, hr)
