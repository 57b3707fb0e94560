#!/usr/bin/env python3
"""Checks kvbench's include graph against its declared layer order (docs/architecture.md).

A file may include headers of its own layer and of layers below it, never above. The order, lowest
first; tests/ and scripts/ sit above everything and are not checked:

  core -> datasets -> model -> kv -> backends -> engine -> methods -> store -> eval -> tasks -> reports -> cli

Usage: scripts/check_layers.py [ROOT]   (exit 0: clean; 1: each violation printed as file:line)
Run by ctest as LayerOrder (tests/CMakeLists.txt).
"""
import os
import re
import sys

ORDER = ["core", "datasets", "model", "kv", "backends", "engine", "methods", "store", "eval", "tasks", "reports",
         "cli"]
RANK = {name: i for i, name in enumerate(ORDER)}
SOURCE = re.compile(r"\.(h|hpp|cpp|cc|cu|cuh)$")
INCLUDE = re.compile(r'^\s*#\s*include\s+"([^"]+)"')


def layer_of(rel):
    """The layer of a repository-relative path, or None for files outside the layered code."""
    parts = rel.split("/")
    if parts[0] == "harness" and len(parts) > 2:
        return parts[1]
    if parts[0] in RANK and len(parts) > 1:
        return parts[0]
    return None


def resolve(root, including_dir, name):
    """The repository-relative path an include names (include roots: the repo, harness/, the file's folder)."""
    for base in (root, os.path.join(root, "harness"), including_dir):
        p = os.path.normpath(os.path.join(base, name))
        if os.path.isfile(p):
            return os.path.relpath(p, root)
    return None  # generated (kvb_git_commit.h) or a system header in quotes


def main():
    root = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), ".."))
    unknown, violations, edges = [], [], 0
    for top in ["harness"] + [d for d in ORDER if os.path.isdir(os.path.join(root, d))]:
        for dirpath, _, files in os.walk(os.path.join(root, top)):
            for f in sorted(files):
                if not SOURCE.search(f):
                    continue
                path = os.path.join(dirpath, f)
                rel = os.path.relpath(path, root)
                src = layer_of(rel)
                if src not in RANK:
                    unknown.append(rel)
                    continue
                with open(path, encoding="utf-8", errors="replace") as fh:
                    for lineno, line in enumerate(fh, 1):
                        m = INCLUDE.match(line)
                        if not m:
                            continue
                        target = resolve(root, dirpath, m.group(1))
                        dst = layer_of(target) if target else None
                        if dst is None or dst == src:
                            continue
                        edges += 1
                        if dst not in RANK:
                            unknown.append(f"{rel}:{lineno}: includes {target} (layer '{dst}' is not in the order)")
                        elif RANK[dst] > RANK[src]:
                            violations.append(f"{rel}:{lineno}: {src} includes {m.group(1)} from the higher layer {dst}")
    for u in unknown:
        print(f"check_layers: {u}: not in a declared layer ({' -> '.join(ORDER)})")
    for v in violations:
        print(f"check_layers: {v}")
    if unknown or violations:
        print(f"check_layers: {len(violations)} upward include(s), {len(unknown)} file(s) outside the order")
        return 1
    print(f"check_layers: {edges} cross-layer includes, all downward ({' -> '.join(ORDER)})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
