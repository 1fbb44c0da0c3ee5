"""The layout of the code and its tests: every module under `study/` and `analysis/` has a test module at the
mirrored path (tests/study/tasks/test_X.py for study/tasks/X.py), and a module longer than MAX_LINES says at
the top of its docstring why it is kept whole.

Run as a script (`python tests/test_layout.py`) to list the modules without a mirrored test module and the
long modules without a reason.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("study", "analysis")

# Modules that need no test module of their own. Keep it short: a reason per entry.
NO_TEST_MODULE = {
    "study/__init__.py": "the package's docstring only",
    "analysis/__init__.py": "the package's docstring only",
    "study/synthetic/__init__.py": "the package's docstring only",
    "study/tasks/__init__.py": "only registers the formats and tasks of its modules; every test that looks up a "
                               "task goes through it (tests/study/tasks/test_registry.py, test_builtin_tasks.py)",
}
# Modules whose test module cannot have the mirrored name. tests/ has no __init__.py, so pytest imports test
# modules by their base name (its default import mode), and two test modules of one name cannot run together.
TEST_MODULE_ELSEWHERE = {
    "analysis/languages.py": "tests/analysis/test_language_gains.py",  # tests/study/tasks/test_languages.py
}

MAX_LINES = 420  # the rule is "about 400 lines"; a longer module says why at the top of its docstring
KEPT_WHOLE = "Kept as one module:"


def modules() -> list[Path]:
    return sorted(p.relative_to(ROOT) for package in PACKAGES for p in (ROOT / package).rglob("*.py"))


def mirrored(module: Path) -> Path:
    return Path("tests", *module.parent.parts, f"test_{module.name}")


def without_test_module() -> list[str]:
    missing = []
    for module in modules():
        key = module.as_posix()
        if key in NO_TEST_MODULE:
            continue
        expected = Path(TEST_MODULE_ELSEWHERE.get(key, mirrored(module)))
        if not (ROOT / expected).is_file():
            missing.append(f"{key} (expected {expected})")
    return missing


def long_without_reason() -> list[str]:
    out = []
    for module in modules():
        text = (ROOT / module).read_text(encoding="utf-8")
        lines = len(text.splitlines())
        doc = ast.get_docstring(ast.parse(text)) or ""
        if lines > MAX_LINES and KEPT_WHOLE not in doc:
            out.append(f"{module.as_posix()} ({lines} lines)")
    return out


def test_every_module_has_a_mirrored_test_module():
    missing = without_test_module()
    assert not missing, ("modules without a test module at the mirrored path (add one, or an entry with its "
                         "reason in NO_TEST_MODULE / TEST_MODULE_ELSEWHERE): " + ", ".join(missing))


def test_the_exceptions_name_existing_modules_and_test_modules():
    known = {m.as_posix() for m in modules()}
    assert not set(NO_TEST_MODULE) - known, "an exception for a module that no longer exists"
    assert not set(TEST_MODULE_ELSEWHERE) - known, "an exception for a module that no longer exists"
    for module, test in TEST_MODULE_ELSEWHERE.items():
        assert not (ROOT / mirrored(Path(module))).is_file(), f"{module} has its mirrored test module now"
        assert (ROOT / mirrored(Path(module))).name in {p.name for p in (ROOT / "tests").rglob("test_*.py")}, (
            f"{module}: its mirrored name is free, so its test module can take it")


def test_test_module_names_are_unique():
    """pytest's default import mode imports test modules by base name: two of one name fail to collect."""
    seen: dict[str, Path] = {}
    for path in sorted((ROOT / "tests").rglob("*.py")):
        if path.name == "conftest.py":
            continue
        assert path.name not in seen, f"{path.relative_to(ROOT)} and {seen[path.name].relative_to(ROOT)}"
        seen[path.name] = path


def test_long_modules_say_why_they_are_kept_whole():
    long = long_without_reason()
    assert not long, (f"modules over {MAX_LINES} lines whose docstring does not give {KEPT_WHOLE!r} and "
                      "the reason (or split them): " + ", ".join(long))


if __name__ == "__main__":
    for line in without_test_module():
        print("no test module:", line)
    for line in long_without_reason():
        print("long, no reason:", line)
