"""What a page may not hold: anything that fetches, links out or runs injected code."""

from __future__ import annotations

import re
from html.parser import HTMLParser

_URL_ATTRS = {
    "src", "href", "srcset", "action", "formaction", "poster", "data", "background", "ping",
    "xlink:href", "manifest", "codebase", "cite", "longdesc", "usemap", "icon", "archive",
}  # fmt: skip
_FETCHING_TAGS = {
    "link", "img", "iframe", "frame", "object", "embed", "audio", "video", "source", "track",
    "base", "image", "use", "feimage", "portal", "applet",
}  # fmt: skip


class _Audit(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.problems: list[str] = []
        self.tags: list[str] = []
        self.scripts = 0
        self.styles = 0
        self.csp = ""

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        names = {name for name, _ in attrs}
        if tag in _FETCHING_TAGS or (tag == "input" and dict(attrs).get("type") == "image"):
            self.problems.append(f"<{tag}> element")
        if tag == "script":
            self.scripts += 1
        if tag == "style":
            self.styles += 1
        for name, value in attrs:
            value = value or ""
            if name in _URL_ATTRS:
                self.problems.append(f"{name}= on <{tag}>")
            if name.startswith("on"):
                self.problems.append(f"event handler {name}= on <{tag}>")
            if name == "style":
                self.problems.append(f"style= on <{tag}>")
            if re.search(r"(?i)(https?:|//|javascript:)", value) and not (
                tag == "meta" and name == "content"
            ):
                self.problems.append(f"URL in {name}= on <{tag}>: {value[:80]!r}")
        if tag == "meta" and "http-equiv" in names:
            equiv = dict(attrs).get("http-equiv") or ""
            if equiv.lower() == "content-security-policy":
                self.csp = dict(attrs).get("content") or ""
            elif equiv.lower() == "refresh":
                self.problems.append("meta refresh")


def audit_page(html: str) -> _Audit:
    audit = _Audit()
    audit.feed(html)
    audit.close()
    for css in re.findall(r"<style>(.*?)</style>", html, flags=re.S):
        if re.search(r"(?i)url\(|@import", css):
            audit.problems.append("url() or @import in the style sheet")
    return audit


def external_references(html: str) -> list[str]:
    """What in ``html`` could make a browser fetch, run injected code or leave the page."""
    return audit_page(html).problems
