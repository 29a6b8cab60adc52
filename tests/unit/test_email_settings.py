"""``notifications.email`` in config/respectline.yaml: read when right, refused with file:line:col when wrong."""

from __future__ import annotations

import pytest

from agi_scripts.config.bundle import load_bundle
from tests.support.config_tree import ConfigTree
from tests.support.config_errors import errors_of, only

SHIPPED_EXAMPLE_START = "# notifications:"


def enable_shipped_example(tree: ConfigTree) -> None:
    """Uncomment the example block shipped at the end of config/respectline.yaml."""
    path = tree.config
    head, marker, block = path.read_text().partition(SHIPPED_EXAMPLE_START)
    assert marker, "the shipped config no longer carries the commented e-mail example"
    lines = (marker + block).splitlines()
    path.write_text(head + "\n".join(line[2:] if line.startswith("# ") else line for line in lines) + "\n")


def test_shipped_config_sends_no_email(config_tree: ConfigTree) -> None:
    assert load_bundle(config_tree.config).settings.notifications.email is None


def test_shipped_example_once_uncommented_is_read(config_tree: ConfigTree) -> None:
    enable_shipped_example(config_tree)
    email = load_bundle(config_tree.config).settings.notifications.email
    assert email is not None
    assert (email.smtp.host, email.smtp.port, email.smtp.starttls, email.smtp.username) == ("127.0.0.1", 25,
                                                                                           False, "")
    assert email.smtp.timeout == 10.0
    assert email.sender == "respectline@example.org"
    assert email.supervisors == ("supervisors@example.org",)
    assert email.teams == {"special_care": ("specialcare@example.org",), "security": ("security@example.org",)}
    assert email.include_caller_number is False


def test_unknown_key_in_the_email_section_is_refused(config_tree: ConfigTree) -> None:
    enable_shipped_example(config_tree)
    config_tree.replace("config/respectline.yaml", "    supervisors:", "    supervisor:")
    error = only(errors_of(config_tree), "unknown key 'supervisor'")
    assert error.file.name == "respectline.yaml"
    assert (error.line, error.column) == (config_tree.line_of("config/respectline.yaml", "supervisor:"), 5)
    assert error.hint == "did you mean 'supervisors'?"


def test_unknown_key_in_the_smtp_section_is_refused(config_tree: ConfigTree) -> None:
    enable_shipped_example(config_tree)
    config_tree.replace("config/respectline.yaml", "starttls: false", "start_tls: false")
    error = only(errors_of(config_tree), "unknown key 'start_tls'")
    assert error.line == config_tree.line_of("config/respectline.yaml", "start_tls")
    assert error.hint == "did you mean 'starttls'?"


@pytest.mark.parametrize("bad", ["Respectline <respectline@example.org>", "respectline", "a@b,c@d.org",
                                 "respectline@example.org\\n"])
def test_bad_sender_address_is_refused(config_tree: ConfigTree, bad: str) -> None:
    enable_shipped_example(config_tree)
    config_tree.replace("config/respectline.yaml", "from: respectline@example.org", f'from: "{bad}"')
    error = only(errors_of(config_tree), "is not an e-mail address")
    assert (error.line, error.column) == (config_tree.line_of("config/respectline.yaml", "from:"), 11)


def test_bad_team_address_is_refused(config_tree: ConfigTree) -> None:
    enable_shipped_example(config_tree)
    config_tree.replace("config/respectline.yaml", "[security@example.org]", '["security@example.org\\nBcc: x@y.org"]')
    error = only(errors_of(config_tree), "is not an e-mail address")
    assert error.line == config_tree.line_of("config/respectline.yaml", "security: [")


def test_team_unknown_to_the_abuse_policy_is_refused_with_a_hint(config_tree: ConfigTree) -> None:
    enable_shipped_example(config_tree)
    config_tree.replace("config/respectline.yaml", "special_care: [specialcare", "special-care: [specialcare")
    error = only(errors_of(config_tree), "team 'special-care' in notifications.email.teams")
    assert error.file.name == "respectline.yaml"
    assert (error.line, error.column) == (config_tree.line_of("config/respectline.yaml", "special-care:"), 7)
    assert error.hint == "did you mean 'special_care'?"


def test_password_without_username_is_refused(config_tree: ConfigTree) -> None:
    enable_shipped_example(config_tree)
    config_tree.replace("config/respectline.yaml", 'password: ""', 'password: "s3cret"')
    only(errors_of(config_tree), "an SMTP password without a username")


def test_email_section_without_recipients_is_refused(config_tree: ConfigTree) -> None:
    config_tree.path("config/respectline.yaml").write_text(
        config_tree.config.read_text()
        + "notifications:\n  email:\n    smtp: {host: mail.example.org}\n    from: rl@example.org\n")
    error = only(errors_of(config_tree), "names nobody to write to")
    assert error.line == config_tree.line_of("config/respectline.yaml", "    smtp: {host: mail.example.org}")


def test_smtp_with_login_and_starttls_is_read(config_tree: ConfigTree) -> None:
    config_tree.path("config/respectline.yaml").write_text(
        config_tree.config.read_text()
        + "notifications:\n  email:\n"
          "    smtp: {host: mail.example.org, port: 587, starttls: true, username: rl, password: pw,"
          " timeout: 3s}\n"
          "    from: rl@example.org\n    supervisors: [a@example.org, b@example.org]\n")
    email = load_bundle(config_tree.config).settings.notifications.email
    assert email is not None and email.teams == {}
    assert (email.smtp.port, email.smtp.starttls, email.smtp.username, email.smtp.password,
            email.smtp.timeout) == (587, True, "rl", "pw", 3.0)
