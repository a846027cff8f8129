"""EvalPlus's ``sanitize``: the program kept from a model's reply (evalplus 0.3.1, ``sanitize.py``).

Same algorithm, on Python's ``ast`` instead of tree-sitter (after step 1 the text always parses,
and the two parsers then agree on the top-level statements used here); checked against
``evalplus.sanitize.sanitize`` in ``tests/tasks/test_evalplus_instruct.py``:

1. ``code_extract``: the longest run of at least two consecutive lines that parses (length =
   its non-blank lines; the first such run wins ties; a one-line reply is kept as is).
2. Top-level statements kept, in this order: imports (not ``from __future__``: tree-sitter calls
   that another node type), then definitions in source order -- classes, functions that contain a
   ``return`` anywhere, and plain assignments (``x = ...``, ``x: T = ...``) -- each name only
   once (later duplicates dropped). Decorated definitions are dropped (tree-sitter's
   ``decorated_definition`` is not one of the kept types).
3. With an entry point, only definitions reachable from it through the names they mention.
4. The kept statements' source, joined by newlines and stripped; if nothing is left, the text of
   step 1. A kept class or function keeps the comments tree-sitter puts in its block: one after
   its last statement on the same line, and the comment lines that follow it indented at least
   as deep as its body.
"""

from __future__ import annotations

import ast

_DEFINITIONS = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)


def _parses(code: str) -> bool:
    try:
        ast.parse(code)
    except (SyntaxError, MemoryError, ValueError):
        return False
    return True


def code_extract(text: str) -> str:
    """The longest parseable block of consecutive lines (EvalPlus's ``code_extract``)."""
    lines = text.split("\n")
    best, best_length = (0, 0), 0
    for i in range(len(lines)):
        for j in range(i + 1, len(lines)):
            if _parses("\n".join(lines[i : j + 1])):
                length = sum(1 for line in lines[i : j + 1] if line.strip())
                if length > best_length:
                    best, best_length = (i, j), length
    return "\n".join(lines[best[0] : best[1] + 1])


def _names(node: ast.AST) -> set[str]:
    """Every identifier in ``node`` (tree-sitter's ``identifier`` nodes)."""
    found: set[str] = set()
    for child in ast.walk(node):
        if isinstance(child, ast.Name):
            found.add(child.id)
        elif isinstance(child, ast.Attribute):
            found.add(child.attr)
        elif isinstance(child, ast.arg):
            found.add(child.arg)
        elif isinstance(child, ast.keyword) and child.arg:
            found.add(child.arg)
        elif isinstance(child, _DEFINITIONS):
            found.add(child.name)
        elif isinstance(child, ast.alias):
            found.update(child.name.split("."))
            if child.asname:
                found.add(child.asname)
        elif isinstance(child, ast.Global | ast.Nonlocal):
            found.update(child.names)
        elif isinstance(child, ast.ExceptHandler) and child.name:
            found.add(child.name)
    return found


def _defined_name(node: ast.stmt) -> tuple[bool, str | None]:
    """(is a kept definition kind, its name) for a top-level statement."""
    if isinstance(node, _DEFINITIONS):
        return not node.decorator_list, node.name
    if isinstance(node, ast.Assign):
        target = node.targets[0]
        return True, target.id if isinstance(target, ast.Name) else None
    if isinstance(node, ast.AnnAssign):
        return True, node.target.id if isinstance(node.target, ast.Name) else None
    return False, None


def _reachable(entrypoint: str, deps: dict[str | None, set[str]]) -> set[str]:
    seen, queue = {entrypoint}, [entrypoint]
    while queue:
        for name in deps.get(queue.pop(0), ()):
            if name not in seen:
                seen.add(name)
                queue.append(name)
    return seen


def _extract_target(code: str, entrypoint: str | None) -> str:
    code = code_extract(code)
    data = code.encode("utf-8")
    starts = [0]
    for line in data.split(b"\n"):
        starts.append(starts[-1] + len(line) + 1)

    lines = data.split(b"\n")

    def source(node: ast.stmt) -> bytes:
        last = node.end_lineno - 1  # type: ignore[operator]
        end = starts[last] + node.end_col_offset  # type: ignore[operator]
        if isinstance(node, _DEFINITIONS):  # tree-sitter's block keeps its trailing comments
            if lines[last][node.end_col_offset:].strip().startswith(b"#"):
                end = starts[last] + len(lines[last])
            indent = node.body[0].col_offset
            for k in range(last + 1, len(lines)):
                text = lines[k].strip()
                if not text:
                    continue
                if not text.startswith(b"#") or len(lines[k]) - len(lines[k].lstrip()) < indent:
                    break
                end = starts[k] + len(lines[k])
        return data[starts[node.lineno - 1] + node.col_offset: end]

    try:
        tree = ast.parse(code)
    except (SyntaxError, MemoryError, ValueError):
        return ""
    imports: list[ast.stmt] = []
    definitions: list[tuple[str | None, ast.stmt]] = []
    seen: set[str | None] = set()
    for node in tree.body:
        if isinstance(node, ast.Import) or (isinstance(node, ast.ImportFrom)
                                            and node.module != "__future__"):
            imports.append(node)
            continue
        kept, name = _defined_name(node)
        if not kept or name in seen:
            continue
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and not any(
                isinstance(n, ast.Return) for n in ast.walk(node)):
            continue
        definitions.append((name, node))
        seen.add(name)
    reachable = (_reachable(entrypoint, {n: _names(d) for n, d in definitions})
                 if entrypoint else None)
    out = b"".join(source(node) + b"\n" for node in imports)
    for name, node in definitions:
        if reachable is None or name in reachable:
            out += source(node) + b"\n"
    return out[:-1].decode("utf-8")


def sanitize(code: str, entrypoint: str | None = None) -> str:
    """The program EvalPlus would score for ``code`` (see the module docstring)."""
    kept = _extract_target(code, entrypoint).strip()
    return kept if kept else code_extract(code)
