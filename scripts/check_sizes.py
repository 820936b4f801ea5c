"""Reports the longest modules and functions of torchfit, and which modules lack a mirrored test.

A report, not a gate (STYLE.md, "Size"): run it before a review and split what has grown past a
screen. Code lines exclude blank lines, comments and docstrings.

    python scripts/check_sizes.py            # top 10 of each
    python scripts/check_sizes.py --top 25

The mirror rule: ``torchfit/a/b.py`` is tested in ``tests/a/test_b.py``; a package's
``__init__.py`` in ``tests/a/test_<a>_<something>.py`` or ``tests/a/test_<a>.py``. Modules with no
function or class of their own (re-exports, ``_version.py``) have nothing to test and are listed
apart.
"""

import argparse
import ast
import os
import sys

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir)
PACKAGE = "torchfit"


def _docstring_lines(tree):
    lines = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(
                    getattr(body[0], "value", None), ast.Constant) and isinstance(
                    body[0].value.value, str):
                lines.update(range(body[0].lineno, body[0].end_lineno + 1))
    return lines


def _code_lines(source, tree, start=1, end=None):
    docstrings = _docstring_lines(tree)
    lines = source.splitlines()[start - 1:end]
    return sum(1 for number, line in enumerate(lines, start)
               if line.strip() and not line.strip().startswith("#") and number not in docstrings)


def modules():
    for folder, _, files in os.walk(os.path.join(ROOT, PACKAGE)):
        for name in sorted(files):
            if name.endswith(".py"):
                path = os.path.join(folder, name)
                yield os.path.relpath(path, ROOT)


def mirrored_test(module):
    """The test files that count as the mirror of ``module`` (a path under torchfit/)."""
    parts = module[len(PACKAGE) + 1:-3].split(os.sep)
    folder = os.path.join(ROOT, "tests", *parts[:-1])
    if parts[-1] == "__init__":
        if len(parts) == 1:
            return [os.path.join(ROOT, "tests", "test_import.py")]
        package = parts[-2]
        parent = os.path.join(ROOT, "tests", *parts[:-1])
        if not os.path.isdir(parent):
            return []
        return [os.path.join(parent, f) for f in os.listdir(parent)
                if f == f"test_{package}.py" or f.startswith(f"test_{package}_")]
    return [os.path.join(folder, f"test_{parts[-1]}.py")]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--top", type=int, default=10)
    args = parser.parse_args(argv)
    module_sizes, function_sizes, untested, nothing_to_test = [], [], [], []
    for module in modules():
        with open(os.path.join(ROOT, module), encoding="utf-8") as f:
            source = f.read()
        tree = ast.parse(source)
        module_sizes.append((len(source.splitlines()), _code_lines(source, tree), module))
        for node in ast.walk(tree):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                code = _code_lines(source, tree, node.lineno, node.end_lineno)
                function_sizes.append((code, f"{module}:{node.lineno} {node.name}"))
        if not any(isinstance(node, (ast.FunctionDef, ast.ClassDef)) for node in tree.body):
            nothing_to_test.append(module)
        elif not any(os.path.exists(path) for path in mirrored_test(module)):
            untested.append(module)
    print(f"Longest modules (lines, code lines), of {len(module_sizes)}:")
    for lines, code, module in sorted(module_sizes, reverse=True)[:args.top]:
        print(f"  {lines:5d} {code:5d}  {module}")
    print("Longest functions (code lines):")
    for code, where in sorted(function_sizes, reverse=True)[:args.top]:
        print(f"  {code:5d}  {where}")
    testable = len(module_sizes) - len(nothing_to_test)
    covered = testable - len(untested)
    print(f"Modules with a mirrored test file: {covered}/{testable} "
          f"({100 * covered / testable:.0f}%); {len(nothing_to_test)} with no code of their own "
          f"({', '.join(nothing_to_test)}). Without one:")
    for module in untested:
        print(f"  {module}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
