#!/usr/bin/env python3
"""Folders depend downward only (docs/architecture.md).

Reads every `#include "gatedlm/<area>/..."` in src/ and include/ and fails, naming file and
line, on one that reaches an area higher in LAYERS than the including file's own. Also checks
that include/gatedlm/<area>/ mirrors src/<area>/ (every area in both, no area outside LAYERS).

Usage: check_layering.py [ROOT]   (ROOT defaults to the repository this file sits in)
Exit 0 when clean, 1 with one line per violation.
"""
import pathlib
import re
import sys

# Lowest first. An area may include its own headers and those of any area before it.
LAYERS = ["core", "config", "backend", "comm", "model", "optim", "parallel", "data", "infer",
          "checkpoint", "train", "sweep", "cli"]
RANK = {area: i for i, area in enumerate(LAYERS)}
INCLUDE = re.compile(r'^\s*#\s*include\s+"gatedlm/([a-z_]+)/')
SOURCES = (".h", ".cpp", ".cu", ".cuh", ".in")


def area_of(path: pathlib.Path, root: pathlib.Path):
    """The area a file belongs to, or None for files outside any area (src/main.cpp)."""
    parts = path.relative_to(root).parts
    if parts[0] == "src" and len(parts) > 2:
        return parts[1]
    if parts[0] == "include" and len(parts) > 3 and parts[1] == "gatedlm":
        return parts[2]
    return None


def check(root: pathlib.Path):
    problems = []
    for top in ("src", "include"):
        for path in sorted((root / top).rglob("*")):
            if not path.is_file() or not path.name.endswith(SOURCES):
                continue
            own = area_of(path, root)
            if own is None:
                continue
            rel = path.relative_to(root)
            if own not in RANK:
                problems.append(f"{rel}: area '{own}' is not in the layer order")
                continue
            for number, line in enumerate(path.read_text(errors="replace").splitlines(), 1):
                match = INCLUDE.match(line)
                if not match:
                    continue
                target = match.group(1)
                if target not in RANK:
                    problems.append(f"{rel}:{number}: includes unknown area '{target}'")
                elif RANK[target] > RANK[own]:
                    problems.append(f"{rel}:{number}: '{own}' includes '{target}', which lies "
                                    f"above it ({' -> '.join(LAYERS)})")
    src_areas = {p.name for p in (root / "src").iterdir() if p.is_dir()}
    inc_areas = {p.name for p in (root / "include" / "gatedlm").iterdir() if p.is_dir()}
    for area in sorted(src_areas ^ inc_areas):
        where = "src" if area in src_areas else "include/gatedlm"
        problems.append(f"{where}/{area}: has no mirror in "
                        f"{'include/gatedlm' if where == 'src' else 'src'}")
    return problems


def main():
    root = pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else pathlib.Path(__file__).parents[2])
    problems = check(root.resolve())
    for problem in problems:
        print(problem)
    if problems:
        print(f"layering: {len(problems)} violation(s)")
        return 1
    print("layering: every include goes down the order " + " -> ".join(LAYERS))
    return 0


if __name__ == "__main__":
    sys.exit(main())
