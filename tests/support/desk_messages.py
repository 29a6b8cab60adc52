"""Every message the desk can show, gathered the way translators' tools gather them: Babel's extractors
read ``_()``, ``gettext``, ``ngettext`` and ``N_`` in the desk's Python code and ``_()`` and
``{% trans %}`` in its templates; the names the shipped ``flows/abuse_policy.yaml`` gives categories,
teams and outcomes are shown through the catalogs too."""

from __future__ import annotations

from pathlib import Path

from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_dir

from agi_scripts.desk import i18n
from tests.support.desk import shipped_policy

DESK = Path(i18n.__file__).resolve().parent
METHODS = [("**/templates/**.html", "jinja2.ext:babel_extract"), ("**.py", "python")]
OPTIONS = {"**/templates/**.html": {"extensions": "jinja2.ext.i18n", "trim_blocks": "true",
                                    "lstrip_blocks": "true"}}


def code_messages() -> dict[str, tuple[str, int]]:
    """Message id (a plural's singular) -> the first file and line that uses it."""
    found: dict[str, tuple[str, int]] = {}
    for filename, line, message, _comments, _context in extract_from_dir(
            DESK, METHODS, options_map=OPTIONS, keywords=DEFAULT_KEYWORDS):
        singular = message[0] if isinstance(message, tuple) else message
        if singular and singular not in found:
            found[singular] = (filename, line)
    return found


def policy_labels() -> set[str]:
    policy = shipped_policy()
    return ({category.label for category in policy.categories.values()}
            | {team.name for team in policy.teams.values()} | set(policy.case_outcomes.values()))


def plural_messages() -> dict[str, str]:
    """Singular -> plural id of the ``ngettext`` messages."""
    plurals: dict[str, str] = {}
    for _filename, _line, message, _comments, _context in extract_from_dir(
            DESK, METHODS, options_map=OPTIONS, keywords=DEFAULT_KEYWORDS):
        if isinstance(message, tuple) and len(message) >= 2 and message[0] and message[1]:
            plurals[message[0]] = message[1]
    return plurals
