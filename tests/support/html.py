"""Just enough HTML reading for page assertions: Capybara's have_title, have_link, have_selector.

The page is parsed with the standard library into a small tree. Selectors are the simple ones
the original specs use: ``tag``, ``#id``, ``.class`` and ``[attr=value]`` compounds joined by
spaces (descendant). Texts are compared with whitespace collapsed, as a browser shows them.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser
from typing import Any

VOID = {
    "area",
    "base",
    "br",
    "col",
    "embed",
    "hr",
    "img",
    "input",
    "link",
    "meta",
    "source",
    "track",
    "wbr",
}
ATTR = r"""\[([\w-]+)(?:=(?:'([^']*)'|"([^"]*)"|([^\]'"]*)))?\]"""
COMPOUND = re.compile(rf"([a-zA-Z0-9]*)((?:[#.][\w-]+|{ATTR})*)")
PART = re.compile(rf"([#.])([\w-]+)|{ATTR}")


def squish(text: str) -> str:
    return " ".join(text.split())


class Node:
    def __init__(self, tag: str, attrs: dict[str, str], parent: Node | None) -> None:
        self.tag, self.attrs, self.parent = tag, attrs, parent
        self.children: list[Node | str] = []

    @property
    def text(self) -> str:
        return squish(
            "".join(c if isinstance(c, str) else " " + c.text + " " for c in self.children)
        )

    def __getitem__(self, name: str) -> str:
        return self.attrs[name]

    def get(self, name: str, default: str | None = None) -> str | None:
        return self.attrs.get(name, default)

    def descendants(self) -> list[Node]:
        found = []
        for child in self.children:
            if isinstance(child, Node):
                found.append(child)
                found.extend(child.descendants())
        return found

    def matches(self, compound: str) -> bool:
        tag, rest = COMPOUND.fullmatch(compound).group(1, 2)  # type: ignore[union-attr]
        if tag and self.tag != tag:
            return False
        for kind, name, attr, *quoted in PART.findall(rest):
            value = "".join(quoted)
            if kind == "#" and self.attrs.get("id") != name:
                return False
            if kind == "." and name not in self.attrs.get("class", "").split():
                return False
            if attr and (attr not in self.attrs or (value and self.attrs[attr] != value)):
                return False
        return True

    def select(self, selector: str, text: str | None = None) -> list[Node]:
        nodes = [self]
        for compound in selector.split():
            nodes = list(
                {id(d): d for n in nodes for d in n.descendants() if d.matches(compound)}.values()
            )
        return [n for n in nodes if text is None or text in n.text]

    def __repr__(self) -> str:
        return f"<{self.tag} {self.attrs}>{self.text[:60]}"


class _Builder(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.root = self.current = Node("#document", {}, None)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        node = Node(tag, {k: v or "" for k, v in attrs}, self.current)
        self.current.children.append(node)
        if tag not in VOID:
            self.current = node

    def handle_endtag(self, tag: str) -> None:
        node: Node | None = self.current
        while node is not None and node.tag != tag:
            node = node.parent
        if node is not None and node.parent is not None:
            self.current = node.parent

    def handle_data(self, data: str) -> None:
        self.current.children.append(data)


class Page:
    """A parsed page: ``Page(response)`` or ``Page("<html>…")``."""

    def __init__(self, source: Any) -> None:
        self.html = source if isinstance(source, str) else source.content.decode()
        builder = _Builder()
        builder.feed(self.html)
        self.root = builder.root

    @property
    def title(self) -> str:
        titles = self.root.select("title")
        return titles[0].text if titles else ""

    @property
    def text(self) -> str:
        bodies = self.root.select("body")
        return (bodies[0] if bodies else self.root).text

    def select(self, selector: str, text: str | None = None) -> list[Node]:
        return self.root.select(selector, text)

    def has(self, selector: str, text: str | None = None) -> bool:
        return bool(self.select(selector, text))

    def links(self, text: str | None = None, href: str | None = None) -> list[Node]:
        return [
            a
            for a in self.select("a")
            if (text is None or a.text == text) and (href is None or a.get("href") == href)
        ]

    def has_link(self, text: str | None = None, href: str | None = None) -> bool:
        return bool(self.links(text, href))

    def buttons(self, text: str) -> list[Node]:
        """Submit buttons (``<input type=submit value=…>`` or ``<button>…``) by their text."""
        inputs = [i for i in self.select("input[type=submit]") if i.get("value") == text]
        return inputs + [b for b in self.select("button") if b.text == text]

    def form_of(self, button_text: str, action: str | None = None) -> dict[str, str]:
        """The action and hidden fields of the form a button submits (to "click" it): the form
        holding it, or the one its ``form`` attribute names, at its ``formaction`` if it has one.
        With ``action``, the first such button that posts there."""
        for button in self.buttons(button_text):
            form = self._owner(button)
            if form is None:
                continue
            target = button.get("formaction") or form["action"]
            if action is not None and target != action:
                continue
            fields = {
                i["name"]: i.get("value", "") or ""
                for i in form.select("input")
                if i.get("type") == "hidden"
            }
            return {"_action": target, **fields}
        raise AssertionError(
            f"no form with a {button_text!r} button" + (f" to {action}" if action else "")
        )

    def _owner(self, button: Node) -> Node | None:
        if button.get("form"):
            return next(iter(self.select(f"form#{button['form']}")), None)
        return next((f for f in self.select("form") if button in f.descendants()), None)

    def has_button(self, text: str, action: str | None = None) -> bool:
        try:
            self.form_of(text, action)
        except AssertionError:
            return False
        return True
