"""Generate ``docs/api.md``, the API reference, from the code.

Every name in a module's ``__all__`` is listed with its signature and the first paragraph
of its docstring (``help(name)`` shows the rest); classes also list the public methods and
properties they define themselves. A name is documented in the first section it appears in;
later sections point there.

Run: ``python tools/make_api_doc.py`` to rewrite ``docs/api.md``, or
``python tools/make_api_doc.py --check`` to exit 1 with a diff when it is stale.
"""

from __future__ import annotations

import argparse
import ast
import contextlib
import difflib
import functools
import importlib
import inspect
import re
import sys
import typing
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "docs" / "api.md"

INTRO = """\
# API reference

Generated from the code's signatures and docstrings (the first paragraph of each) by
`tools/make_api_doc.py`; after changing a public name or its docstring, regenerate it with
`python tools/make_api_doc.py` instead of editing it. `help(name)` in Python shows the full
text with parameters and examples. Names are grouped by module; the top level re-exports
the everyday ones."""

SECTIONS = [
    ("Top level (`import kairos_sdk as ks`)", "kairos_sdk"),
    ("Planning (`kairos_sdk.planner`)", "kairos_sdk.planner"),
    ("Baselines (`kairos_sdk.baselines`)", "kairos_sdk.baselines"),
    ("Distribution policies (`kairos_sdk.distribute`)", "kairos_sdk.distribute"),
    ("Simulation (`kairos_sdk.simulate`)", "kairos_sdk.simulate"),
    ("Live client (`kairos_sdk.client`)", "kairos_sdk.client"),
    ("Replay endpoints (`kairos_sdk.endpoints`)", "kairos_sdk.endpoints"),
    ("Jupyter widgets (`kairos_sdk.widgets`)", "kairos_sdk.widgets"),
    ("Built-in defaults (`kairos_sdk.defaults`)", "kairos_sdk.defaults"),
    ("Errors (`kairos_sdk.errors`)", "kairos_sdk.errors"),
]
SKIP = {"__version__"}
MAX_REPR = 100  # longer constant values are shown by name only
MAX_DIFF_LINES = 40

# :class:`~a.b.C` -> `C`, :func:`a.f` -> `a.f`, :meth:`text <target>` -> `text`; RST needs a
# space (or "\ ") between a role and a plural "s", Markdown does not.
ROLE = re.compile(r":[a-z]+:`(~?)([^`]+)`(?:\\? (s)\b)?")


# ------------------------------------------------------------------------------ text
def _role(match: re.Match) -> str:
    tilde, target, plural = match.groups()
    if target.endswith(">") and "<" in target:
        target = target.split("<")[0].strip()
    elif tilde:
        target = target.split(".")[-1]
    return f"`{target}`{plural or ''}"


def markdown(text: str) -> str:
    """One line of Markdown from reStructuredText prose."""
    text = ROLE.sub(_role, " ".join(text.split()))
    text = text.replace("``", "`")
    return text[:-1] if text.endswith("::") else text


def first_paragraph(doc: str | None) -> str:
    if not doc:
        return ""
    return markdown(re.split(r"\n\s*\n", inspect.cleandoc(doc), maxsplit=1)[0])


def stable_repr(value: object) -> str:
    """``repr``, with the elements of sets sorted so the text does not depend on hashing."""
    if isinstance(value, (set, frozenset)):
        items = ", ".join(sorted(stable_repr(v) for v in value))
        if isinstance(value, frozenset):
            return f"frozenset({{{items}}})" if value else "frozenset()"
        return f"{{{items}}}" if value else "set()"
    if isinstance(value, tuple):
        items = [stable_repr(v) for v in value]
        return f"({items[0]},)" if len(items) == 1 else f"({', '.join(items)})"
    if isinstance(value, list):
        return f"[{', '.join(stable_repr(v) for v in value)}]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{stable_repr(k)}: {stable_repr(v)}" for k, v in value.items()) + "}"
    return repr(value)


class _Shown:
    """Stands in for an annotation or default so a signature prints the given text."""

    def __init__(self, text: str) -> None:
        self.text = text

    def __repr__(self) -> str:
        return self.text


def _annotation(annotation: object) -> str:
    # The package uses `from __future__ import annotations`: annotations are source strings.
    return annotation if isinstance(annotation, str) else inspect.formatannotation(annotation)


def signature(sig: inspect.Signature, *, drop_first: bool = False) -> str:
    """``(params) -> ret`` with source annotations, stable defaults and no ``-> None``."""
    params = []
    for p in list(sig.parameters.values())[1 if drop_first else 0 :]:
        if p.annotation is not p.empty:
            p = p.replace(annotation=_Shown(_annotation(p.annotation)))
        if p.default is not p.empty:
            p = p.replace(default=_Shown(stable_repr(p.default)))
        params.append(p)
    text = str(sig.replace(parameters=params, return_annotation=sig.empty))
    ret = sig.return_annotation
    if ret is not sig.empty and _annotation(ret) != "None":
        text += f" -> {_annotation(ret)}"
    return text


def entry(heading: str, doc: str, bullets: list[str] | None = None) -> str:
    parts = [f"### `{heading}`", doc, "\n".join(bullets or [])]
    return "\n\n".join(part for part in parts if part)


# ------------------------------------------------------------------------------ names
def member_line(name: str, member: object) -> str | None:
    """The bullet of one attribute a class defines, or None when it is not documented."""
    if isinstance(member, property):
        line = f"`.{name}` (property)"
        func = member.fget
    elif isinstance(member, (classmethod, staticmethod)) or inspect.isfunction(member):
        func = getattr(member, "__func__", member)
        sig = signature(inspect.signature(func), drop_first=not isinstance(member, staticmethod))
        line = f"`{'await ' * inspect.iscoroutinefunction(func)}.{name}{sig}`"
    else:
        return None
    doc = first_paragraph(func.__doc__)
    return f"- {line} — {doc}" if doc else f"- {line}"


def class_entry(name: str, cls: type) -> str:
    heading = name
    if typing.Protocol not in cls.__bases__:  # a protocol is not called
        # an exception class that keeps Exception's constructor has none (ValueError)
        with contextlib.suppress(ValueError):
            heading += signature(inspect.signature(cls))
    bullets = [
        line
        for attr, member in vars(cls).items()
        if not attr.startswith("_") and (line := member_line(attr, member))
    ]
    return entry(heading, first_paragraph(cls.__doc__), bullets)


def function_entry(name: str, func) -> str:
    prefix = "async " if inspect.iscoroutinefunction(func) else ""
    return entry(f"{prefix}{name}{signature(inspect.signature(func))}", first_paragraph(func.__doc__))


@functools.cache
def comment_docs(module) -> dict[str, str]:
    """``{name: doc}`` from the ``#:`` comment lines right above each module-level
    assignment in the module's source (parsed once per module)."""
    source = inspect.getsource(module)
    lines = source.splitlines()
    out: dict[str, str] = {}
    for node in ast.parse(source).body:
        if isinstance(node, ast.Assign):
            targets = node.targets
        elif isinstance(node, ast.AnnAssign):
            targets = [node.target]
        else:
            continue
        i, doc = node.lineno - 2, []
        while i >= 0 and lines[i].lstrip().startswith("#:"):
            doc.insert(0, lines[i].lstrip()[2:])
            i -= 1
        for t in targets:
            if isinstance(t, ast.Name) and t.id not in out:
                out[t.id] = markdown(" ".join(doc))
    return out


def constant_entry(module, name: str, value: object) -> str:
    text = stable_repr(value)
    heading = f"{name} = {text}" if len(text) <= MAX_REPR and "\n" not in text else name
    return entry(heading, comment_docs(module).get(name, ""))


def name_entry(module, name: str) -> str:
    obj = getattr(module, name)
    if inspect.isclass(obj):
        return class_entry(name, obj)
    if inspect.isroutine(obj):
        return function_entry(name, obj)
    return constant_entry(module, name, obj)


# ------------------------------------------------------------------------------ document
def render() -> str:
    """The text of ``docs/api.md`` for the code as it is now."""
    blocks = [INTRO]
    seen: dict[str, tuple[object, str]] = {}  # name -> (object, section it is documented in)
    for title, module_name in SECTIONS:
        module = importlib.import_module(module_name)
        blocks += [f"## {title}", first_paragraph(module.__doc__)]
        elsewhere, entries = [], []
        for name in module.__all__:
            if name in SKIP:
                continue
            obj = getattr(module, name)
            if name in seen and seen[name][0] is obj:
                elsewhere.append(f"- `{name}` — documented under {seen[name][1]}")
            else:
                seen[name] = (obj, title.split(" (")[0])
                entries.append(name_entry(module, name))
        if elsewhere:
            blocks.append("\n".join(elsewhere))
        blocks += entries
    return "\n\n".join(blocks) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if docs/api.md is stale")
    args = parser.parse_args(argv)
    sys.path.insert(0, str(ROOT))  # document this checkout's kairos_sdk
    new = render()
    old = OUT.read_text(encoding="utf-8") if OUT.exists() else ""
    if not args.check:
        OUT.write_text(new, encoding="utf-8")
        print(f"wrote {OUT.relative_to(ROOT)}")
        return 0
    if new == old:
        return 0
    diff = list(difflib.unified_diff(
        old.splitlines(), new.splitlines(), "docs/api.md", "docs/api.md (generated)",
        lineterm="",
    ))
    print("\n".join(diff[:MAX_DIFF_LINES]))
    if len(diff) > MAX_DIFF_LINES:
        print(f"... {len(diff) - MAX_DIFF_LINES} more diff lines")
    print("docs/api.md is stale: run python tools/make_api_doc.py")
    return 1


if __name__ == "__main__":
    sys.exit(main())
