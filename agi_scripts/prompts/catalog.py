"""``audio_prompts/prompts.yaml``: every sentence a caller can hear, per language.

The catalog is text and metadata only; ``agi_scripts.prompts.build`` turns it into audio. At call
time a prompt id plus a language resolves to a sound name Asterisk can play
(``respectline/<lang>/<id>``), always built by us from validated ids, never from caller input.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from agi_scripts.ground.errors import ConfigError
from yaml.nodes import Node

from agi_scripts.ground.yamlsource import YamlFile

LANGUAGE_PATTERN = re.compile(r"^[a-z]{2,3}(-[A-Z]{2})?$")
SOUND_PREFIX = "respectline"
"""Folder under Asterisk's sounds directory that holds our prompts."""


@dataclass(frozen=True)
class Prompt:
    id: str
    texts: dict[str, str]
    """Language -> sentence to synthesise."""
    recorded: dict[str, Path] = field(default_factory=dict)
    """Language -> a real voice recording; wins over synthesis. Resolved against the catalog's folder."""
    speed: float = 1.0
    description: str = ""

    def languages(self) -> set[str]:
        return set(self.texts) | set(self.recorded)


@dataclass(frozen=True)
class PromptCatalog:
    path: Path
    languages: tuple[str, ...]
    prompts: dict[str, Prompt]

    def has(self, prompt_id: str, language: str) -> bool:
        prompt = self.prompts.get(prompt_id)
        return prompt is not None and language in prompt.languages()

    def sound_name(self, prompt_id: str, language: str) -> str:
        """Name to give Playback/STREAM FILE (no extension), relative to Asterisk's sounds dir."""
        return f"{SOUND_PREFIX}/{language}/{prompt_id}"


def load_prompt_catalog(path: Path, errors: list[ConfigError]) -> PromptCatalog | None:
    source = YamlFile(path, errors)
    top = source.mapping(source.root(), required=("languages", "prompts"), what="prompt catalog")
    if top is None:
        return None
    languages = _languages(source, top.get("languages"))
    prompts: dict[str, Prompt] = {}
    table = source.mapping(top.get("prompts"), what="'prompts' mapping (prompt id: its texts)")
    if table is not None:
        for prompt_id, key_node, value_node in table.items():
            if source.identifier(key_node, "a prompt id") is None:
                continue
            prompt = _prompt(source, prompt_id, value_node, languages, path.parent)
            if prompt is not None:
                prompts[prompt_id] = prompt
    return PromptCatalog(path, tuple(languages), prompts)


def _languages(source: YamlFile, node: Node | None) -> list[str]:
    result: list[str] = []
    for item in source.sequence(node, "list of languages"):
        language = source.string(item, "a language code", pattern=LANGUAGE_PATTERN,
                                 pattern_hint="use codes such as nl, fr, en or nl-BE")
        if language is not None:
            result.append(language)
    return result


def _prompt(source: YamlFile, prompt_id: str, node: Node, languages: list[str], base: Path) -> Prompt | None:
    spec = source.mapping(node, required=("text",), optional=("recorded", "speed", "description"),
                          what=f"prompt {prompt_id!r}")
    if spec is None:
        return None
    texts: dict[str, str] = {}
    text_map = source.mapping(spec.get("text"), what=f"texts of prompt {prompt_id!r} (language: sentence)")
    if text_map is not None:
        for language, key_node, value_node in text_map.items():
            if language not in languages:
                source.error(key_node, f"language {language!r} is not in the catalog's 'languages' list",
                             f"add it there or use one of: {', '.join(languages)}")
                continue
            text = source.string(value_node, "a sentence")
            if text is not None:
                texts[language] = " ".join(text.split())
    recorded: dict[str, Path] = {}
    recorded_map = source.mapping(spec.get("recorded"), what=f"recordings of prompt {prompt_id!r}")
    if recorded_map is not None:
        for language, key_node, value_node in recorded_map.items():
            name = source.string(value_node, "a file path")
            if name is None:
                continue
            file = (base / name).resolve()
            if not file.is_file():
                source.error(value_node, f"recorded file {name!r} does not exist",
                             f"paths are relative to {base.name}/")
                continue
            recorded[language] = file
    speed = 1.0
    speed_node = spec.get("speed")
    if speed_node is not None:
        raw = source.scalar(speed_node, "a speed factor")
        try:
            speed = float(raw) if raw is not None else 1.0
            if not 0.5 <= speed <= 2.0:
                raise ValueError
        except ValueError:
            source.error(speed_node, f"speed {raw!r} must be a number from 0.5 to 2.0")
    description_node = spec.get("description")
    description = (source.scalar(description_node, "a text") or "") if description_node else ""
    return Prompt(prompt_id, texts, recorded, speed, description)
