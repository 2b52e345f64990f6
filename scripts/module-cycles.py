#!/usr/bin/env python3
"""Lists import cycles between the suite's modules (src/): one node per module at depth
1 (cli, engine, report, ...) and per module under src/profiles/<profile>/. Exit 1 on a cycle.

Usage: python3 scripts/module-cycles.py [--depth-1-only]
"""
import os, re, sys

ROOT = os.path.join(os.path.dirname(__file__), "..", "src")

def node_of(path):
    rel = os.path.relpath(path, ROOT).replace(os.sep, "/")
    parts = rel[:-3].split("/") if rel.endswith(".rs") else rel.split("/")
    if parts[0] == "profiles" and len(parts) >= 3:
        return "/".join(parts[:3])
    if parts[0] == "profiles" and len(parts) == 2 and parts[1] != "mod":
        return "profiles/" + parts[1] if parts[1] in ("options",) else "profiles/" + parts[1]
    return parts[0]

def target_of(src_node, use_path):
    parts = use_path.split("::")
    if parts[0] == "profiles" and len(parts) >= 3:
        return "/".join(parts[:3])
    return parts[0]

edges = {}
for dirpath, _, files in os.walk(ROOT):
    for f in files:
        if not f.endswith(".rs") or f == "tests.rs":
            continue
        p = os.path.join(dirpath, f)
        n = node_of(p)
        text = open(p, encoding="utf-8").read()
        # Test modules may reach across; count only non-test code.
        text = text.split("#[cfg(test)]")[0]
        for m in re.finditer(r"crate::([a-z_0-9]+(?:::[a-z_0-9]+){0,2})", text):
            t = target_of(n, m.group(1))
            if t != n and not n.startswith(t + "/") and not t.startswith(n + "/"):
                edges.setdefault(n, set()).add(t)

def cycles():
    found = []
    for start in sorted(edges):
        stack = [(start, [start])]
        while stack:
            node, path = stack.pop()
            for nxt in sorted(edges.get(node, ())):
                if nxt == start:
                    found.append(path + [start])
                elif nxt not in path and nxt > start:
                    stack.append((nxt, path + [nxt]))
    return found

if "--edges" in sys.argv:
    for k in sorted(edges):
        print(k, "->", ", ".join(sorted(edges[k])))
c = cycles()
for cyc in c:
    print(" -> ".join(cyc))
print(f"{len(edges)} modules with imports, {len(c)} cycle(s)")
sys.exit(1 if c else 0)
