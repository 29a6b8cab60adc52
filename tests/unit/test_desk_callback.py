"""The desk's Call back without an Asterisk: who may press it, what the page says when it cannot work (AMI off
or down, no phone, no number), the failed try on the timeline, the admin's phone form, the ``callback:``
section's checks and the dialplan it generates. The real call is tested in tests/e2e/test_desk_callback.py."""

from __future__ import annotations

import dataclasses
import io
import re
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from agi_scripts.asterisk_conf.callback import callback_dialplan
from agi_scripts.asterisk_conf.generate import generate
from agi_scripts.config.bundle import load_bundle
from agi_scripts.config.callback_settings import CallbackSettings
from agi_scripts.config.settings import AmiSettings
from agi_scripts.desk import passwords
from agi_scripts.desk.app import create_app
from agi_scripts.doctor import checks
from agi_scripts.doctor.findings import Status
from agi_scripts.doctor.parse import Context
from agi_scripts.ground import channel_vars, metrics
from agi_scripts.policy.callback import CallbackRefused, CallbackRequest, start_callback
from agi_scripts.sandbox.asterisk import free_port
from agi_scripts.storage import Store
from agi_scripts.storage.base import StoreError, utc_now
from agi_scripts.storage.desk import DeskStore
from tests.support.cli_runner import Cli
from tests.support.config_errors import errors_of, only
from tests.support.config_tree import PROJECT, ConfigTree
from tests.support.desk import CHEAP_HASHER, World, desk_options, fill, log_in

DIAL = "PJSIP/{number}@trunk"
ALLOWED = ("+324[5-9]XXXXXXX",)
"""Belgian mobiles in international form: the world's two cases' callers."""


@pytest.fixture(autouse=True)
def cheap_hashes(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(passwords, "_HASHER", CHEAP_HASHER)


@pytest.fixture
def world(store: Store, tmp_path: Path) -> World:
    made = fill(store, tmp_path / "recordings")
    DeskStore(store).set_phone("care", "PJSIP/care1")
    DeskStore(store).set_phone("boss", "PJSIP/boss1")
    return made


def _client(store: Store, store_url: str, tmp_path: Path, *, ami: AmiSettings,
            callback: CallbackSettings) -> TestClient:
    options = desk_options(store_url, tmp_path / "recordings")
    settings = dataclasses.replace(options.settings, ami=ami, callback=callback,
                                   recordings_dir=tmp_path / "recordings")
    return TestClient(create_app(dataclasses.replace(options, settings=settings), store))


@pytest.fixture
def ami_down(store: Store, store_url: str, tmp_path: Path, world: World) -> Iterator[TestClient]:
    """Call back configured, AMI configured on a port where nothing listens."""
    with _client(store, store_url, tmp_path, ami=AmiSettings(port=free_port(), username="desk", secret="s"),
                 callback=CallbackSettings(dial=DIAL, allowed=ALLOWED)) as client:
        yield client


@pytest.fixture
def ami_off(store: Store, store_url: str, tmp_path: Path, world: World) -> Iterator[TestClient]:
    with _client(store, store_url, tmp_path, ami=AmiSettings(),
                 callback=CallbackSettings(dial=DIAL, allowed=ALLOWED)) as client:
        yield client


def _events(store: Store, case_id: int) -> list[tuple[str, str, str | None]]:
    case = store.get_case(case_id)
    assert case is not None
    return [(e.action, e.detail, e.author) for e in case.events if e.action.startswith("callback")]


def _press(client: TestClient, csrf: str, case_id: int) -> str:
    answer = client.post(f"/cases/{case_id}/callback", data={"csrf": csrf}, follow_redirects=False)
    assert answer.status_code == 303, answer.text
    return str(client.get(answer.headers["location"]).text)


def test_ami_down_the_page_says_so_and_the_timeline_keeps_the_failed_try(ami_down: TestClient, store: Store,
                                                                      world: World) -> None:
    csrf = log_in(ami_down, "care")
    page = ami_down.get(f"/cases/{world.care_case.id}").text
    assert 'id="callback-button"' in page and "PJSIP/care1" in page
    counted = {"outcome": "ami_unavailable"}
    before = metrics.DESK_REGISTRY.get_sample_value("respectline_desk_callbacks_total", counted) or 0
    shown = _press(ami_down, csrf, world.care_case.id)
    assert "The call back did not start" in shown and "AMI is unavailable" in shown
    [(action, detail, author)] = _events(store, world.care_case.id)
    assert action == "callback_failed" and "AMI is unavailable" in detail and author == "care"
    assert "callback" in [e.action for e in DeskStore(store).audit_of_case(world.care_case.id)]
    after = metrics.DESK_REGISTRY.get_sample_value("respectline_desk_callbacks_total", counted)
    assert after == before + 1
    # Nothing holds the staff member after a failed try: the next press tries again.
    _press(ami_down, csrf, world.care_case.id)
    assert [e[0] for e in _events(store, world.care_case.id)] == ["callback_failed", "callback_failed"]


def test_ami_not_configured_the_page_says_so_and_a_press_is_refused_on_the_timeline(ami_off: TestClient, store: Store,
                                                                            world: World) -> None:
    csrf = log_in(ami_off, "care")
    page = ami_off.get(f"/cases/{world.care_case.id}").text
    assert 'id="callback-button"' not in page and "AMI, which is not configured" in page
    shown = _press(ami_off, csrf, world.care_case.id)  # a page opened before AMI was taken off
    assert "The call back did not start: AMI is not configured" in shown
    [(action, detail, author)] = _events(store, world.care_case.id)
    assert action == "callback_failed" and "AMI is not configured" in detail and author == "care"


@pytest.mark.parametrize(("user", "case", "status"), [
    ("one", "care", 403), ("root", "care", 403), ("care", "security", 403), ("sec", "care", 403),
])
def test_only_who_may_work_the_case_may_call_back(ami_down: TestClient, store: Store, world: World, user: str,
                                                  case: str, status: int) -> None:
    case_id = world.care_case.id if case == "care" else world.security_case.id
    csrf = log_in(ami_down, user)
    answer = ami_down.post(f"/cases/{case_id}/callback", data={"csrf": csrf}, follow_redirects=False)
    assert answer.status_code == status
    assert _events(store, case_id) == []


def test_a_supervisor_may_call_back_any_team(ami_down: TestClient, store: Store, world: World) -> None:
    csrf = log_in(ami_down, "boss")
    assert "AMI is unavailable" in _press(ami_down, csrf, world.security_case.id)
    assert [e[2] for e in _events(store, world.security_case.id)] == ["boss"]


def test_a_press_without_the_csrf_token_is_refused(ami_down: TestClient, store: Store, world: World) -> None:
    log_in(ami_down, "care")
    answer = ami_down.post(f"/cases/{world.care_case.id}/callback", data={}, follow_redirects=False)
    assert answer.status_code == 403
    assert _events(store, world.care_case.id) == []


def test_an_agent_never_sees_the_button(ami_down: TestClient, world: World) -> None:
    log_in(ami_down, "one")
    assert ami_down.get(f"/cases/{world.care_case.id}").status_code == 403
    assert "callback" not in ami_down.get("/my/incidents").text.lower()


def test_without_a_phone_in_the_profile_the_page_says_whom_to_ask(ami_down: TestClient, store: Store,
                                                                  world: World) -> None:
    DeskStore(store).set_phone("care", None)
    csrf = log_in(ami_down, "care")
    assert "Your profile has no phone" in ami_down.get(f"/cases/{world.care_case.id}").text
    assert "Your profile has no phone" in _press(ami_down, csrf, world.care_case.id)
    assert _events(store, world.care_case.id) == []


def test_a_case_without_a_callable_number_is_refused_on_the_timeline(ami_down: TestClient, store: Store,
                                                                     world: World) -> None:
    case = store.open_case(category="verbal_abuse", team="special_care", priority=3, caller="anonymous",
                           agent="Agent Two", queue="billing", call_id="c9")
    csrf = log_in(ami_down, "care")
    assert "no phone number that can be called back" in _press(ami_down, csrf, case.id)
    [(action, detail, _author)] = _events(store, case.id)
    assert action == "callback_failed" and "no phone number" in detail


@pytest.fixture
def nothing_allowed(store: Store, store_url: str, tmp_path: Path, world: World) -> Iterator[TestClient]:
    """Call back configured without ``allowed``: AMI is on a port where nothing listens (never reached)."""
    with _client(store, store_url, tmp_path, ami=AmiSettings(port=free_port(), username="desk", secret="s"),
                 callback=CallbackSettings(dial=DIAL)) as client:
        yield client


def test_the_page_shows_the_number_dialled_and_the_audit_records_it(ami_down: TestClient, store: Store,
                                                                     world: World) -> None:
    csrf = log_in(ami_down, "care")
    page = ami_down.get(f"/cases/{world.care_case.id}").text
    assert '<strong id="callback-number">+32470999888</strong>' in page
    _press(ami_down, csrf, world.care_case.id)
    [detail] = [e.detail for e in DeskStore(store).audit_of_case(world.care_case.id) if e.action == "callback"]
    assert detail == "PJSIP/care1 -> +32470999888"


def test_a_number_callback_allowed_does_not_list_is_never_dialled(ami_down: TestClient, store: Store,
                                                                  world: World) -> None:
    """A caller ID is the caller's to choose: a premium-rate line, a victim's number."""
    case = store.open_case(category="verbal_abuse", team="special_care", priority=3, caller="+3290012345",
                           agent="Agent Two", queue="billing", call_id="c-premium")
    csrf = log_in(ami_down, "care")
    page = ami_down.get(f"/cases/{case.id}").text
    assert 'id="callback-button"' not in page and "not one the configuration lets the desk call" in page
    shown = _press(ami_down, csrf, case.id)  # a page opened before the list changed
    assert "not one callback.allowed lets the desk call" in shown
    [(action, detail, _author)] = _events(store, case.id)
    # Refused before any AMI connection: the timeline says why, not "AMI is unavailable".
    assert action == "callback_failed" and "+3290012345 is not a number callback.allowed" in detail


def test_without_an_allowed_list_no_number_is_called(nothing_allowed: TestClient, store: Store, world: World) -> None:
    csrf = log_in(nothing_allowed, "care")
    page = nothing_allowed.get(f"/cases/{world.care_case.id}").text
    assert 'id="callback-button"' not in page and "callback.allowed in the configuration is empty" in page
    assert "not one callback.allowed lets the desk call" in _press(nothing_allowed, csrf, world.care_case.id)
    [(action, _detail, _author)] = _events(store, world.care_case.id)
    assert action == "callback_failed"


def test_allowed_patterns_match_whole_numbers_only() -> None:
    settings = CallbackSettings(dial=DIAL, allowed=("+324[5-9]XXXXXXX", "0[1-57]XXXXXXXX", "+31NXZ"))
    assert settings.allows("+32470999888") and settings.allows("0201234567") and settings.allows("+31291")
    for number in ("+3247099988", "+324709998881", "+32440999888", "+32470999888\n", "0801234567", "+31191",
                   "+31200", "32470999888", ""):
        assert not settings.allows(number), number


def test_the_case_page_shows_only_its_own_messages_never_text_from_the_link(ami_down: TestClient,
                                                                            world: World) -> None:
    """``?error=`` names a message; text a phisher puts there is not shown."""
    log_in(ami_down, "care")
    case_page = f"/cases/{world.care_case.id}"
    phishing = ami_down.get(case_page, params={"error": "Your session expired: log in again at evil.example"}).text
    assert "evil.example" not in phishing and 'role="alert"' not in phishing
    assert "Asterisk&#39;s AMI is unavailable" in ami_down.get(case_page + "?error=ami_down").text
    french = ami_down.get(case_page + "?error=note_long", headers={"Accept-Language": "fr"}).text
    assert '<p class="error" role="alert">Une note compte au plus 4000 caractères.</p>' in french


def test_a_case_erased_between_the_page_and_the_press_gets_a_clear_message(
        ami_down: TestClient, store: Store, world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    csrf = log_in(ami_down, "care")
    monkeypatch.setattr(store, "get_case", lambda case_id: None)  # erased after the team check
    answer = ami_down.post(f"/cases/{world.care_case.id}/callback", data={"csrf": csrf}, follow_redirects=False)
    assert answer.headers["location"] == f"/cases/{world.care_case.id}?error=case_gone"
    monkeypatch.undo()
    assert "this case was erased meanwhile" in ami_down.get(answer.headers["location"]).text


@pytest.mark.parametrize("number", ["0470&PJSIP/evil", "+32 470", "0470\n1", "0470123456\n", "12", "1" * 25,
                                    "anonymous", ""])
def test_a_number_other_than_digits_never_reaches_ami(number: str) -> None:
    with pytest.raises(CallbackRefused, match="no phone number"):
        CallbackRequest(case_id=1, staff="care", endpoint="PJSIP/care1", number=number).checked()


@pytest.mark.parametrize("endpoint", ["PJSIP/care1,SIP/evil", "PJSIP/care1&PJSIP/x", "PJSIP/${EVIL}", "care1", "",
                                      "PJSIP/care1\n"])
def test_a_phone_other_than_an_endpoint_is_refused(store: Store, endpoint: str) -> None:
    with pytest.raises(CallbackRefused, match="not an endpoint"):
        CallbackRequest(case_id=1, staff="care", endpoint=endpoint, number="+32470000001").checked()
    if endpoint:
        DeskStore(store).add_user("x", "supervisor", "hash")
        with pytest.raises(ValueError, match="endpoint such as"):
            DeskStore(store).set_phone("x", endpoint)


def test_an_admin_sets_a_phone_on_the_users_page(ami_down: TestClient, store: Store, world: World) -> None:
    csrf = log_in(ami_down, "root")
    page = ami_down.get("/admin/users").text
    assert 'id="phone-endpoint"' in page
    saved = ami_down.post("/admin/users/phone", data={"csrf": csrf, "name": "sec", "phone": "PJSIP/security1"},
                          follow_redirects=False)
    assert saved.status_code == 303
    user = DeskStore(store).user_named("sec")
    assert user is not None and user.phone == "PJSIP/security1"
    hostile = ami_down.post("/admin/users/phone", data={"csrf": csrf, "name": "sec", "phone": "PJSIP/x,SIP/evil"},
                            follow_redirects=False)
    assert hostile.status_code == 400 and "endpoint such as" in hostile.text
    user = DeskStore(store).user_named("sec")
    assert user is not None and user.phone == "PJSIP/security1"
    removed = ami_down.post("/admin/users/phone", data={"csrf": csrf, "name": "sec", "phone": ""},
                            follow_redirects=False)
    assert removed.status_code == 303
    user = DeskStore(store).user_named("sec")
    assert user is not None and user.phone is None
    assert [e.detail for e in DeskStore(store).audit_entries() if e.action == "phone_set"][:2] == \
        ["sec: removed", "sec: PJSIP/security1"]


def test_only_an_admin_sets_phones(ami_down: TestClient, store: Store, world: World) -> None:
    csrf = log_in(ami_down, "boss")
    answer = ami_down.post("/admin/users/phone", data={"csrf": csrf, "name": "boss", "phone": "PJSIP/x"},
                           follow_redirects=False)
    assert answer.status_code == 403
    user = DeskStore(store).user_named("boss")
    assert user is not None and user.phone == "PJSIP/boss1"


# ---------------------------------------------------------------- the callback: section and the dialplan


def test_shipped_config_has_call_back_off_and_generates_no_context(config_tree: ConfigTree) -> None:
    bundle = load_bundle(config_tree.config)
    assert not bundle.settings.callback.enabled
    dialplan = generate(bundle, "127.0.0.1:4573")["extensions_respectline.conf"]
    assert "[respectline-callback]\nexten" not in dialplan and "Call back from the desk is off" in dialplan


def test_call_back_on_generates_a_dialplan_that_filters_what_it_dials(config_tree: ConfigTree) -> None:
    config_tree.replace("config/respectline.yaml", '  dial: ""', f"  dial: {DIAL}")
    config_tree.replace("config/respectline.yaml", '  caller_id: ""', '  caller_id: "+3223456789"')
    bundle = load_bundle(config_tree.config)
    assert bundle.settings.callback.dial == DIAL
    dialplan = generate(bundle, "127.0.0.1:4573")["extensions_respectline.conf"]
    assert "Set(RL_CALLBACK_TO=${FILTER(0123456789+,${RL_CALLBACK_TO})})" in dialplan
    assert ("Dial(PJSIP/${RL_CALLBACK_TO}@trunk,40,U(respectline-callback-answered^${RL_CALLBACK}"
            "^${RL_CALLBACK_CALLER_LANG}))") in dialplan
    assert "Set(CALLERID(all)=+3223456789 <+3223456789>)" in dialplan
    assert "Playback(respectline/${RL_CALLBACK_LANG}/callback_intro)" in dialplan
    assert "exten => h,1,UserEvent(RespectlineCallback," in dialplan
    assert "recording_notice" in dialplan.split("[respectline-callback-answered]")[1]
    assert callback_dialplan(bundle) in dialplan
    assert set(re.findall(r"\bRL_[A-Z_]+", callback_dialplan(bundle))) == set(channel_vars.CALLBACK_CALL)


@pytest.mark.parametrize(("dial", "fragment"), [
    ("PJSIP/trunk", "is not a dial string"),
    ("PJSIP/{number}@trunk,SIP/evil", "is not a dial string"),
    ("PJSIP/{number}&PJSIP/{number}", "is not a dial string"),
    ("PJSIP/${EVIL}{number}", "is not a dial string"),
])
def test_a_dial_template_that_could_dial_more_is_refused_with_its_place(config_tree: ConfigTree, dial: str,
                                                                        fragment: str) -> None:
    config_tree.replace("config/respectline.yaml", '  dial: ""', f'  dial: "{dial}"')
    error = only(errors_of(config_tree), fragment)
    assert error.file.name == "respectline.yaml" and error.line > 1 and error.column > 1
    assert "{number}" in error.hint


def test_the_shipped_allowed_list_takes_nl_and_be_landlines_and_mobiles_not_service_numbers(
        config_tree: ConfigTree) -> None:
    allowed = load_bundle(config_tree.config).settings.callback
    for number in ("+32470999888", "0470000001", "+3222345678", "022345678", "+31612345678", "0612345678",
                   "+31201234567", "0201234567", "+3293301234"):
        assert allowed.allows(number), number
    for number in ("+3290012345", "090012345", "+3270123456", "070123456", "+3280012345", "+31900123456",
                   "0900123456", "+31800123456", "+447911123456", "+32470999888\n", "112"):
        assert not allowed.allows(number), number


def test_a_bad_allowed_pattern_is_refused_with_its_place(config_tree: ConfigTree) -> None:
    config_tree.replace("config/respectline.yaml", '    - "+316XXXXXXXX"', '    - "+31.*"\n    - "+32[a]X"\n'
                        '    - "+316XXXXXXXX\\n"')
    errors = errors_of(config_tree)
    for bad in ("'+31.*'", "'+32[a]X'", "'+316XXXXXXXX\\n'"):
        error = only(errors, f"{bad} is not a number pattern")
        assert error.file.name == "respectline.yaml" and error.line > 1 and error.column > 1
        assert "X (any digit)" in error.hint


def test_a_final_newline_in_a_configured_value_is_refused(config_tree: ConfigTree) -> None:
    """YAML can quote a line break; a '$'-anchored pattern tried with match would let it through."""
    config_tree.replace("config/respectline.yaml", '  dial: ""', '  dial: "PJSIP/{number}@trunk\\n"')
    assert only(errors_of(config_tree), "is not a dial string")


def test_bad_ring_times_and_caller_id_are_refused(config_tree: ConfigTree) -> None:
    config_tree.replace("config/respectline.yaml", "  ring_staff: 30s", "  ring_staff: 1s")
    config_tree.replace("config/respectline.yaml", '  caller_id: ""', '  caller_id: "Respectline"')
    errors = errors_of(config_tree)
    assert only(errors, "ring_staff")
    assert only(errors, "is not a phone number").hint.startswith("digits")


def test_desk_set_phone_and_add_user_check_the_endpoint(cli: Cli, store: Store,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    DeskStore(store).add_user("kim", "security", "hash", team="security")
    assert "phone of kim set to PJSIP/security1" in cli.ok("desk", "set-phone", "kim", "PJSIP/security1")
    user = DeskStore(store).user_named("kim")
    assert user is not None and user.phone == "PJSIP/security1"
    code, _out, err = cli.run("desk", "set-phone", "kim", "PJSIP/a&PJSIP/b")
    assert code == 2 and "endpoint such as" in err
    code, _out, err = cli.run("desk", "set-phone", "nobody", "PJSIP/x")
    assert code == 1 and "no desk user named 'nobody'" in err
    assert "phone of kim removed" in cli.ok("desk", "set-phone", "kim", "")
    user = DeskStore(store).user_named("kim")
    assert user is not None and user.phone is None
    monkeypatch.setattr("sys.stdin", io.StringIO("a good long password\n"))
    code, _out, err = cli.run("desk", "add-user", "lee", "--role", "supervisor", "--phone", "PJSIP/x,SIP/y")
    assert code == 2 and "endpoint such as" in err
    assert DeskStore(store).user_named("lee") is None


def test_doctor_fails_when_call_back_is_on_but_its_contexts_are_not_loaded(config_tree: ConfigTree) -> None:
    config_tree.replace("config/respectline.yaml", '  dial: ""', f"  dial: {DIAL}")
    setup = checks.Setup(load_bundle(config_tree.config), Path("cfg.yaml"), Path("/etc/asterisk/respectline"), {})
    loaded = {name: Context(name) for name in ("respectline-callback", "respectline-callback-answered")}
    [found] = checks._check_callback(loaded, setup)
    assert found.status is Status.OK
    [missing] = checks._check_callback({"respectline-callback": Context("respectline-callback")}, setup)
    assert missing.status is Status.FAIL and "respectline-callback-answered" in missing.message
    assert "respectline asterisk-conf" in missing.fix
    off = checks.Setup(load_bundle(PROJECT / "config" / "respectline.yaml"), Path("cfg.yaml"), Path("/x"), {})
    assert checks._check_callback({}, off) == []


def test_doctor_warns_when_call_back_is_on_without_an_allowed_list(config_tree: ConfigTree) -> None:
    config_tree.replace("config/respectline.yaml", '  dial: ""', f"  dial: {DIAL}")
    text = config_tree.config.read_text()
    config_tree.config.write_text(re.sub(r"(?m)^  allowed:\n(?:    - .*\n)+", "  allowed: []\n", text))
    setup = checks.Setup(load_bundle(config_tree.config), Path("cfg.yaml"), Path("/etc/asterisk/respectline"), {})
    assert setup.bundle.settings.callback.allowed == ()
    loaded = {name: Context(name) for name in ("respectline-callback", "respectline-callback-answered")}
    found, warned = checks._check_callback(loaded, setup)
    assert found.status is Status.OK
    assert warned.status is Status.WARN and "every call back is refused" in warned.message


# ---------------------------------------------------------------- one call back at a time (migration 7)


def test_a_call_back_is_booked_and_one_at_a_time_per_staff_member(store: Store, world: World) -> None:
    desk = DeskStore(store)
    now = utc_now()
    since = now - timedelta(hours=1)
    assert desk.claim_callback("aa01", world.care_case.id, "care", "PJSIP/care1", running_since=since, at=now)
    assert not desk.claim_callback("aa02", world.care_case.id, "care", "PJSIP/care1", running_since=since, at=now)
    assert desk.claim_callback("aa03", world.security_case.id, "boss", "PJSIP/boss1", running_since=since, at=now)
    desk.end_callback("aa01", "caller_answered", at=now + timedelta(minutes=3))
    desk.end_callback("aa01", "unfollowed", at=now + timedelta(minutes=4))  # the first end counts
    assert desk.claim_callback("aa04", world.care_case.id, "care", "PJSIP/care1", running_since=since, at=now)
    [first, fourth] = desk.callbacks_of_case(world.care_case.id)
    assert (first.id, first.staff, first.endpoint, first.outcome) == ("aa01", "care", "PJSIP/care1", "caller_answered")
    assert first.ended_at == now + timedelta(minutes=3) and first.started_at == now
    assert (fourth.id, fourth.ended_at, fourth.outcome) == ("aa04", None, None)


def test_a_call_back_a_stopped_desk_left_running_is_taken_as_lost(store: Store, world: World) -> None:
    desk = DeskStore(store)
    now = utc_now()
    assert desk.claim_callback("bb01", world.care_case.id, "care", "PJSIP/care1",
                               running_since=now - timedelta(hours=3), at=now - timedelta(hours=2))
    assert desk.claim_callback("bb02", world.care_case.id, "care", "PJSIP/care1",
                               running_since=now - timedelta(hours=1), at=now)


def test_a_press_while_a_call_back_runs_on_another_desk_is_refused(store: Store, store_url: str, tmp_path: Path,
                                                                   world: World) -> None:
    DeskStore(store).claim_callback("cc01", world.care_case.id, "care", "PJSIP/care1",
                                    running_since=utc_now() - timedelta(hours=1))
    with _client(store, store_url, tmp_path, ami=AmiSettings(port=free_port(), username="desk", secret="s"),
                 callback=CallbackSettings(dial=DIAL)) as other_desk:
        csrf = log_in(other_desk, "care")
        assert "Your call back is still going" in _press(other_desk, csrf, world.care_case.id)
    assert _events(store, world.care_case.id) == []
    assert [c.id for c in DeskStore(store).callbacks_of_case(world.care_case.id)] == ["cc01"]


def test_a_try_that_did_not_start_is_booked_as_ended(ami_down: TestClient, store: Store, world: World) -> None:
    csrf = log_in(ami_down, "care")
    _press(ami_down, csrf, world.care_case.id)
    [booked] = DeskStore(store).callbacks_of_case(world.care_case.id)
    assert booked.outcome == "not_started" and booked.ended_at is not None and booked.endpoint == "PJSIP/care1"


def test_the_desk_rings_into_the_context_the_dialplan_generator_writes() -> None:
    from agi_scripts.asterisk_conf import callback as generated
    from agi_scripts.policy import callback as desk_side

    assert (desk_side.CONTEXT, desk_side.ANSWERED_CONTEXT) == (generated.CONTEXT, generated.ANSWERED_CONTEXT)


def test_a_store_that_fails_while_a_try_is_refused_still_refuses_it_cleanly() -> None:
    def broken(_case_id: int, _action: str, _detail: str, _author: str) -> None:
        raise StoreError("database is locked")

    request = CallbackRequest(case_id=1, staff="care", endpoint="PJSIP/care1", number="+32470000001")
    with pytest.raises(CallbackRefused, match="AMI is not configured"):
        start_callback(request, AmiSettings(), CallbackSettings(dial=DIAL, allowed=ALLOWED), broken)


def test_a_store_that_fails_at_the_press_gives_a_message_not_an_error_page(
        ami_down: TestClient, store: Store, world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    csrf = log_in(ami_down, "care")

    def broken(*_args: object, **_kwargs: object) -> bool:
        raise StoreError("database is locked")

    monkeypatch.setattr(DeskStore, "claim_callback", broken)
    assert "the store did not answer" in _press(ami_down, csrf, world.care_case.id)
