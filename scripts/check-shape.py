#!/usr/bin/env python3
"""Checks the code's shape (docs/ARCHITECTURE.md, "Rules the shape keeps"):

- no module cycles: among the modules of one parent, none imports (through
  `crate::`, `super::` or `self::` paths) a sibling that, directly or through
  others, imports it back;
- no function over MAX_FN lines and no file over MAX_FILE lines, tests
  excepted (a `#[cfg(test)]` module, `tests/`, `testkit/`);
- each flow's tables are named in SQL only by its own folders (TABLES):
  the workers that write them, and the one module in `shared` every other
  reader goes through.

Known exceptions are listed in scripts/shape-exceptions.txt, one per line,
as this script reports them without the line count: the list may only
shrink. An exception
that no longer occurs is reported too, so the list stays true.

Exit status 1 on any new violation or stale exception.
"""

import os
import re
import sys

MAX_FN = 60
MAX_FILE = 400
CRATES = ["shared", "ingest", "workers", "broadcaster", "bench"]
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
EXCEPTIONS = os.path.join(ROOT, "scripts", "shape-exceptions.txt")

# Where SQL may name each flow's tables: the writers in `workers`, and the
# flow's folder in `shared` that every other reader uses.
TABLES = {
    (
        "packages",
        "status_events",
        "package_events",
        "package_notices",
        "plan_events",
        "package_counts",
        "package_count_changes",
        "package_change_log",
        "package_change_log_pruned",
    ): [
        "shared/src/packages/",
        "shared/src/auth/access.rs",  # the policy's facts about packages
        "shared/src/auth/deliveries.rs",  # a run's stops and their status
        "workers/src/packages/",
        "workers/src/accounts/deliveries.rs",  # stops name packages
        "workers/src/locations/",  # numbering points, latest positions
        "workers/src/geofences/notify.rs",  # numbering zone notices
        "workers/src/arrivals/",  # estimates and promises on packages
        "workers/src/mail/recipients/",  # a recipient's mail names its package
    ],
    ("users", "sessions", "devices", "deliveries", "delivery_stops"): [
        "shared/src/auth/",
        "workers/src/accounts/",
        "workers/src/bootstrap.rs",
        "workers/src/locations/screening.rs",  # who may post for a package
        "workers/src/locations/couriers/screening.rs",  # who may report for a courier
        "workers/src/packages/carriage.rs",  # a package rides on a courier's run
        "shared/src/couriers/reads.rs",  # couriers are accounts
        "workers/src/arrivals/runs.rs",  # a courier's remaining stops
        "workers/src/webhooks/endpoints.rs",  # endpoints' owners and their rights
        "workers/src/webhooks/disable.rs",  # the owner an endpoint's failure is mailed to
    ],
    ("courier_positions", "package_carriage"): [
        "shared/src/couriers/",
        "shared/src/packages/aboard.rs",  # a package reads with its courier's fix
        "workers/src/locations/couriers/",
        "workers/src/packages/carriage.rs",
    ],
    ("package_pool_members",): ["shared/src/pool_members.rs"],
    ("webhooks", "webhook_revision", "webhook_deliveries", "webhook_attempts"): [
        "shared/src/webhooks/",
        "workers/src/webhooks/",
        "workers/src/accounts/webhooks.rs",
    ],
    ("courier_legs", "arrival_cells"): ["workers/src/arrivals/"],
    ("recipient_notifications", "mail_suppressions"): [
        "workers/src/mail/",
    ],
    ("geofence_subjects", "geofence_presence", "geofence_revision", "courier_notices"): [
        "shared/src/geofences/",
        "workers/src/geofences/",
    ],
}
SQL_TABLE = re.compile(r"\b(?:FROM|JOIN|INTO|UPDATE)\s+(\w+)")

FN = re.compile(r"^(\s*)(pub(\([^)]*\))?\s+)?(const\s+)?(async\s+)?(unsafe\s+)?fn\s+(\w+)")
PATH = re.compile(r"\b(crate|super|self)((?:::\w+)+)")


def without_tests(lines):
    """The lines before a file's `#[cfg(test)]` module (tests sit at the end)."""
    for index, line in enumerate(lines):
        if line.strip() == "#[cfg(test)]" and index + 1 < len(lines):
            following = lines[index + 1].strip()
            if following.startswith("mod ") or following.startswith("pub mod "):
                return lines[:index]
    return lines


def module_of(crate_src, path):
    """`a/b.rs` → [a, b]; `a/mod.rs` → [a]; lib.rs/main.rs → []."""
    relative = os.path.relpath(path, crate_src)[: -len(".rs")].split(os.sep)
    if relative[-1] in ("mod", "lib", "main"):
        relative = relative[:-1]
    return relative


def sizes(name, lines):
    problems = []
    if len(lines) > MAX_FILE:
        problems.append(f"file {name}: {len(lines)} lines")
    for index, line in enumerate(lines):
        match = FN.match(line)
        if not match or declaration(lines, index):
            continue
        indent = match.group(1)
        for end in range(index + 1, len(lines)):
            if lines[end].rstrip() == indent + "}":
                length = end - index + 1
                if length > MAX_FN:
                    problems.append(f"fn {name}::{match.group(7)}: {length} lines")
                break
    return problems


def declaration(lines, index):
    """Whether the signature starting here ends in `;` (no body)."""
    for line in lines[index:]:
        end = line.split("//")[0].rstrip()
        if end.endswith("{"):
            return False
        if end.endswith(";"):
            return True
    return True


def edges_of(module, lines, modules):
    """Sibling edges: (parent, from child, to child)."""
    found = set()
    text = "\n".join(line.split("//")[0] for line in lines)
    for root, rest in PATH.findall(text):
        parts = [p for p in rest.split("::") if p]
        if root == "crate":
            target = parts
        elif root == "super":
            base = module[:-1]
            while parts and parts[0] == "super":
                base, parts = base[:-1], parts[1:]
            target = base + parts
        else:
            target = module + parts
        # The longest prefix that is a module of this crate.
        while target and tuple(target) not in modules:
            target = target[:-1]
        common = 0
        while common < min(len(module), len(target)) and module[common] == target[common]:
            common += 1
        if common < len(module) and common < len(target):
            parent = "::".join(module[:common]) or "crate"
            found.add((parent, module[common], target[common]))
    return found


def stray_tables(name, lines):
    """SQL naming a flow's table outside the places TABLES allows."""
    problems = []
    for tables, allowed in TABLES.items():
        if any(name.startswith(place) for place in allowed):
            continue
        for index, line in enumerate(lines):
            if line.strip().startswith("//"):
                continue
            for table in SQL_TABLE.findall(line):
                if table in tables:
                    problems.append(f"table {name}:{index + 1}: {table}")
    return problems


def cycles(crate, edges):
    """Each strongly connected group of siblings, as one report line."""
    problems = []
    by_parent = {}
    for parent, a, b in edges:
        by_parent.setdefault(parent, {}).setdefault(a, set()).add(b)
    for parent, graph in sorted(by_parent.items()):
        reach = {}
        for start in graph:
            seen, stack = set(), [start]
            while stack:
                for nxt in graph.get(stack.pop(), ()):
                    if nxt not in seen:
                        seen.add(nxt)
                        stack.append(nxt)
            reach[start] = seen
        groups = set()
        for a in graph:
            group = tuple(sorted(b for b in reach[a] if a in reach.get(b, ())))
            if len(group) > 1:
                groups.add(group)
        for group in sorted(groups):
            problems.append(f"cycle {crate}::{parent}: {' <-> '.join(group)}")
    return problems


def main():
    problems = []
    for crate in CRATES:
        src = os.path.join(ROOT, crate, "src")
        files = {}
        for directory, _, names in os.walk(src):
            for file in sorted(names):
                if file.endswith(".rs"):
                    path = os.path.join(directory, file)
                    with open(path, encoding="utf-8") as handle:
                        files[path] = without_tests(handle.read().splitlines())
        modules = {tuple(module_of(src, path)) for path in files}
        edges = set()
        for path, lines in sorted(files.items()):
            problems += sizes(os.path.relpath(path, ROOT), lines)
            problems += stray_tables(os.path.relpath(path, ROOT), lines)
            edges |= edges_of(module_of(src, path), lines, modules)
        problems += cycles(crate, edges)
        if os.environ.get("SHAPE_EDGES"):
            for edge in sorted(edges):
                print(crate, *edge)
    with open(EXCEPTIONS, encoding="utf-8") as handle:
        allowed = {l.strip() for l in handle if l.strip() and not l.startswith("#")}
    # An exception names the function or file; its length may change.
    key = lambda problem: problem.split(": ")[0] if problem.endswith(" lines") else problem
    new = [p for p in problems if key(p) not in allowed]
    stale = sorted(allowed - {key(p) for p in problems})
    for problem in new:
        print(f"shape: {problem}")
    for exception in stale:
        print(f"shape: no longer happens, remove from scripts/shape-exceptions.txt: {exception}")
    if new or stale:
        sys.exit(1)
    print(f"shape: ok ({len(allowed)} known exceptions)")


if __name__ == "__main__":
    main()
