"""Check the package's size rules: modules, functions and constructors stay small.

Three rules (from issue 11's "Done when"):

- a module has at most ``MAX_MODULE_LINES`` lines (every line of the file);
- a function or method has at most ``MAX_FUNCTION_LINES`` code lines, counted from its
  ``def`` line to its last line without blank lines, comment-only lines and its docstring
  (a nested function counts towards the function that holds it); a function may be longer
  when its ``def`` line (or the rest of its signature) carries a ``# long: <why>`` comment;
- a class constructor takes at most ``MAX_INIT_PARAMS`` parameters besides ``self``: an
  explicit ``__init__``, or the fields a dataclass makes its ``__init__`` from (the class
  line may carry ``# long: <why>`` the same way).

Run ``python tools/check_sizes.py [path ...]`` (default: ``kairos_sdk``): one line per
violation, ``path:line: rule: detail``, and exit status 1 when there is any.
"""

from __future__ import annotations

import argparse
import ast
import io
import re
import sys
import tokenize
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

MAX_MODULE_LINES = 600
MAX_FUNCTION_LINES = 60
MAX_INIT_PARAMS = 12

LONG_OK = re.compile(r"#\s*long:\s*\S")  # "# long: <why>", the why not empty

ROOT = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class Violation:
    """One broken rule: where (``path``, ``line``), which ``rule`` and by how much."""

    path: str     # as given, or relative to the repository root when under it
    line: int
    rule: str     # "module", "function" or "constructor"
    name: str     # dotted name inside the module ("" for the module rule)
    size: int     # lines or parameters counted
    limit: int

    @property
    def key(self) -> str:
        """``path::name`` (``path`` alone for the module rule): what an exception list names."""
        return f"{self.path}::{self.name}" if self.name else self.path

    def __str__(self) -> str:
        what = {"module": "lines", "function": "code lines", "constructor": "parameters"}[self.rule]
        where = f" {self.name}" if self.name else ""
        return f"{self.path}:{self.line}: {self.rule}{where}: {self.size} {what} (limit {self.limit})"


# ------------------------------------------------------------------------------ counting
def _code_lines(source: str) -> set[int]:
    """Line numbers holding code: not blank and not only a comment."""
    lines: set[int] = set()
    for tok in tokenize.generate_tokens(io.StringIO(source).readline):
        if tok.type in (tokenize.COMMENT, tokenize.NL, tokenize.NEWLINE, tokenize.INDENT,
                        tokenize.DEDENT, tokenize.ENDMARKER):
            continue
        lines.update(range(tok.start[0], tok.end[0] + 1))
    return lines


def _docstring_lines(node: ast.AST) -> set[int]:
    body = getattr(node, "body", [])
    if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant) \
            and isinstance(body[0].value.value, str):
        return set(range(body[0].lineno, body[0].end_lineno + 1))
    return set()


def _has_long_comment(lines: list[str], node: ast.AST) -> bool:
    """``# long: <why>`` on the ``def``/``class`` line or the rest of the signature."""
    body = getattr(node, "body", [])
    last = body[0].lineno - 1 if body else node.lineno
    return any(LONG_OK.search(lines[k - 1]) for k in range(node.lineno, max(last, node.lineno) + 1))


def _is_dataclass(node: ast.ClassDef) -> bool:
    for d in node.decorator_list:
        target = d.func if isinstance(d, ast.Call) else d
        name = target.attr if isinstance(target, ast.Attribute) else getattr(target, "id", "")
        if name == "dataclass":
            init = next((k.value for k in getattr(d, "keywords", []) if k.arg == "init"), None)
            return not (isinstance(init, ast.Constant) and init.value is False)
    return False


def _dataclass_fields(node: ast.ClassDef) -> int:
    """Fields a dataclass's ``__init__`` takes (``ClassVar`` and ``field(init=False)`` excluded)."""
    n = 0
    for stmt in node.body:
        if not isinstance(stmt, ast.AnnAssign) or not isinstance(stmt.target, ast.Name):
            continue
        if "ClassVar" in ast.unparse(stmt.annotation):
            continue
        v = stmt.value
        if isinstance(v, ast.Call) and ast.unparse(v.func).endswith("field") and any(
                k.arg == "init" and isinstance(k.value, ast.Constant) and k.value.value is False
                for k in v.keywords):
            continue
        n += 1
    return n


def _init_params(fn: ast.FunctionDef) -> int:
    a = fn.args
    n = len(a.posonlyargs) + len(a.args) + len(a.kwonlyargs) + (a.vararg is not None) + (a.kwarg is not None)
    return n - 1  # self


# ------------------------------------------------------------------------------ checking
def check_source(source: str, path: str) -> list[Violation]:
    """Every size rule ``source`` (the text of the module at ``path``) breaks."""
    out: list[Violation] = []
    lines = source.splitlines()
    if len(lines) > MAX_MODULE_LINES:
        out.append(Violation(path, len(lines), "module", "", len(lines), MAX_MODULE_LINES))
    code = _code_lines(source)
    tree = ast.parse(source, filename=path)

    def visit(node: ast.AST, prefix: str) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)):
                name = prefix + child.name
                span = set(range(child.lineno, child.end_lineno + 1))
                size = len((span & code) - _docstring_lines(child))
                if size > MAX_FUNCTION_LINES and not _has_long_comment(lines, child):
                    out.append(Violation(path, child.lineno, "function", name, size, MAX_FUNCTION_LINES))
                if child.name == "__init__" and isinstance(node, ast.ClassDef):
                    n = _init_params(child)
                    if n > MAX_INIT_PARAMS and not _has_long_comment(lines, node):
                        out.append(Violation(path, child.lineno, "constructor", prefix[:-1], n, MAX_INIT_PARAMS))
                visit(child, name + ".")  # functions nested in it count in its size, checked alone too
            elif isinstance(child, ast.ClassDef):
                name = prefix + child.name
                if _is_dataclass(child) and not _has_long_comment(lines, child):
                    n = _dataclass_fields(child)
                    if n > MAX_INIT_PARAMS:
                        out.append(Violation(path, child.lineno, "constructor", name, n, MAX_INIT_PARAMS))
                visit(child, name + ".")
            else:
                visit(child, prefix)

    visit(tree, "")
    return sorted(out, key=lambda v: v.line)


def _python_files(paths: Iterable[Path]) -> Iterator[Path]:
    for p in paths:
        if p.is_dir():
            yield from sorted(f for f in p.rglob("*.py") if "__pycache__" not in f.parts)
        else:
            yield p


def _shown(p: Path) -> str:
    try:
        return p.resolve().relative_to(ROOT).as_posix()
    except ValueError:
        return p.as_posix()


def check_paths(paths: Iterable[str | Path]) -> list[Violation]:
    """Every violation in the ``.py`` files under ``paths`` (files or directories)."""
    out: list[Violation] = []
    for f in _python_files(Path(p) for p in paths):
        out.extend(check_source(f.read_text(encoding="utf-8"), _shown(f)))
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("paths", nargs="*", default=[str(ROOT / "kairos_sdk")],
                        help="files or directories to check (default: the kairos_sdk package)")
    args = parser.parse_args(argv)
    violations = check_paths(args.paths)
    for v in violations:
        print(v)
    print(f"{len(violations)} violation(s)", file=sys.stderr)
    return 1 if violations else 0


if __name__ == "__main__":
    sys.exit(main())
