"""Accessibility checks of a desk page in Chromium: names as the browser computes them for assistive
technology (its accessibility tree, over the DevTools protocol), headings, visible keyboard focus and
the contrast of text (WCAG 2 ratio, AA)."""

from __future__ import annotations

from typing import Any

from playwright.sync_api import Page

NAMED_ROLES = {"textbox", "combobox", "checkbox", "radio", "button", "link", "slider", "spinbutton",
               "searchbox", "listbox", "switch", "menuitem", "tab"}
"""Roles a screen reader announces by name: each needs one."""

HEADINGS = """() => [...document.querySelectorAll('h1, h2, h3, h4, h5, h6')]
    .map(h => [Number(h.tagName[1]), h.textContent.trim()])"""

FOCUS_STYLE = """() => {
    const el = document.activeElement;
    if (!el || el === document.body) { return null; }
    const style = getComputedStyle(el);
    return {tag: el.tagName.toLowerCase(), id: el.id, text: (el.innerText || el.value || '').trim().slice(0, 60),
            href: el.getAttribute('href'), outline: style.outlineStyle, width: parseFloat(style.outlineWidth),
            visible: el.matches(':focus-visible') || (el.tagName === 'AUDIO' && el.matches(':focus-within'))};
}"""

LOW_CONTRAST = """() => {
    function rgba(text) {
        const m = text.match(/rgba?\\(([^)]+)\\)/);
        if (!m) { return [0, 0, 0, 0]; }
        const p = m[1].split(',').map(Number);
        return [p[0], p[1], p[2], p.length > 3 ? p[3] : 1];
    }
    function luminance(c) {
        const [r, g, b] = c.slice(0, 3).map(v => { v /= 255; return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; });
        return 0.2126 * r + 0.7152 * g + 0.0722 * b;
    }
    function background(el) {
        for (let node = el; node; node = node.parentElement) {
            const c = rgba(getComputedStyle(node).backgroundColor);
            if (c[3] > 0.5) { return c; }
        }
        return [255, 255, 255, 1];
    }
    const bad = [];
    const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
    for (let text = walker.nextNode(); text; text = walker.nextNode()) {
        const el = text.parentElement;
        if (!text.textContent.trim() || !el || !el.getClientRects().length) { continue; }
        const style = getComputedStyle(el);
        if (style.visibility === 'hidden' || el.closest('.visually-hidden, .skip')) { continue; }
        const fg = luminance(rgba(style.color)), bg = luminance(background(el));
        const ratio = (Math.max(fg, bg) + 0.05) / (Math.min(fg, bg) + 0.05);
        const size = parseFloat(style.fontSize), bold = Number(style.fontWeight) >= 700;
        const needed = (size >= 24 || (bold && size >= 18.66)) ? 3 : 4.5;
        if (ratio < needed) { bad.push([text.textContent.trim().slice(0, 40), Math.round(ratio * 100) / 100]); }
    }
    return bad;
}"""


def unnamed_controls(page: Page) -> list[dict[str, Any]]:
    """Controls of the page (inputs, selects, buttons, links ...) whose accessible name is empty, as
    Chromium computes it for a screen reader."""
    session = page.context.new_cdp_session(page)
    try:
        tree = session.send("Accessibility.getFullAXTree")
    finally:
        session.detach()
    missing = []
    for node in tree["nodes"]:
        role = node.get("role", {}).get("value")
        if node.get("ignored") or role not in NAMED_ROLES:
            continue
        if not str(node.get("name", {}).get("value", "")).strip():
            missing.append({"role": role, "node": node.get("backendDOMNodeId")})
    return missing


def control_count(page: Page) -> int:
    """Form controls a user can reach (hidden inputs aside): what ``unnamed_controls`` looked at."""
    count: int = page.evaluate("() => document.querySelectorAll("
                               "'input:not([type=hidden]), select, textarea, button').length")
    return count


def heading_problems(page: Page) -> list[str]:
    """One h1 per page, and no level skipped on the way down (h2 then h4)."""
    headings: list[list[Any]] = page.evaluate(HEADINGS)
    problems = []
    if [level for level, _ in headings].count(1) != 1:
        problems.append(f"expected one h1, got {headings}")
    previous = 0
    for level, text in headings:
        if level > previous + 1:
            problems.append(f"h{level} {text!r} follows h{previous}")
        previous = level
    return problems


def focused(page: Page) -> dict[str, Any] | None:
    style: dict[str, Any] | None = page.evaluate(FOCUS_STYLE)
    return style


def low_contrast(page: Page) -> list[list[Any]]:
    found: list[list[Any]] = page.evaluate(LOW_CONTRAST)
    return found
