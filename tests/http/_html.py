"""A small HTML tree for tests that read lamdis pages: elements, their attributes and text, as
the standard library's HTML parser sees them (no browser)."""

from __future__ import annotations

from collections.abc import Iterator
from html.parser import HTMLParser

import attrs

_VOID = frozenset({"meta", "link", "br", "img", "input", "hr", "source", "wbr"})


@attrs.define
class Element:
    tag: str
    attrs: dict[str, str | None]
    children: list[Element | str] = attrs.Factory(list)

    def iter(self, tag: str | None = None) -> Iterator[Element]:
        """This element and every element under it (of ``tag`` when given), in order."""
        if tag is None or self.tag == tag:
            yield self
        for child in self.children:
            if isinstance(child, Element):
                yield from child.iter(tag)

    def text(self) -> str:
        return "".join(c if isinstance(c, str) else c.text() for c in self.children)

    def by_id(self, element_id: str) -> Element:
        found = [e for e in self.iter() if e.attrs.get("id") == element_id]
        assert len(found) == 1, f"{len(found)} elements with id {element_id!r}"
        return found[0]

    def by_class(self, name: str) -> list[Element]:
        return [e for e in self.iter() if name in (e.attrs.get("class") or "").split()]


class _Builder(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.root = Element("#document", {})
        self.stack = [self.root]

    def handle_starttag(self, tag: str, attributes: list[tuple[str, str | None]]) -> None:
        element = Element(tag, dict(attributes))
        self.stack[-1].children.append(element)
        if tag not in _VOID:
            self.stack.append(element)

    def handle_endtag(self, tag: str) -> None:
        if tag in _VOID:
            return
        assert self.stack[-1].tag == tag, f"</{tag}> closes <{self.stack[-1].tag}>"
        self.stack.pop()

    def handle_data(self, data: str) -> None:
        self.stack[-1].children.append(data)


def parse(html: str) -> Element:
    """The page's tree; fails on an end tag that does not close the open element."""
    builder = _Builder()
    builder.feed(html)
    builder.close()
    assert builder.stack == [builder.root], "unclosed elements: " + ", ".join(
        e.tag for e in builder.stack[1:]
    )
    return builder.root
