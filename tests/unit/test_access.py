import polars as pl

from flashdash.access import LANDING, PAGES, Actor, can_open, mask_pii, pages_for


def test_every_role_lands_on_a_page_it_may_open():
    for role, key in LANDING.items():
        assert can_open(Actor("u", "U", role), key)


def test_only_admins_see_admin_and_reps_do_not_see_the_executive_summary():
    assert [p.key for p in pages_for("admin")][-1] == "admin"
    assert "admin" not in [p.key for p in pages_for("manager")]
    assert "executive" not in [p.key for p in pages_for("rep")]


def test_nobody_signed_in_can_open_nothing():
    assert not any(can_open(None, p.key) for p in PAGES)


def test_analysts_see_contact_fields_masked_and_reps_do_not():
    frame = pl.DataFrame({"merchant_name": ["Joe's"], "email": ["joe@x.example"], "phone": [None]})
    masked = mask_pii(frame, Actor("a", "A", "analyst"))
    assert masked["email"][0] == "•••" and masked["phone"][0] is None
    assert masked["merchant_name"][0] == "Joe's"
    assert mask_pii(frame, Actor("r", "R", "rep", rep_id=1, scope_reps=(1,)))["email"][0] == "joe@x.example"
