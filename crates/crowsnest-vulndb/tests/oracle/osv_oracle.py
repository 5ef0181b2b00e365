"""An independent evaluation of OSV records, the oracle of the matcher's tests.

It reads the same osv.dev-style all.zip archives the Rust importer reads and decides, for each
probe (ecosystem, name, installed version), which records affect it, by the OSV schema's rules
(https://ossf.github.io/osv-schema/#evaluation). Nothing here is shared with the Rust code:

- PyPI versions are ordered by the `packaging` library (PyPA's reference PEP 440 implementation);
- npm, crates.io and Go (SEMVER ranges) by the Semantic Versioning 2.0.0 precedence rules,
  written out below from the specification's section 11;
- Maven versions in the fixture records are plain dotted numbers, compared as integer tuples
  (anything else is reported as indeterminate, never guessed).

Records that describe the same vulnerability (one's id among another's aliases, a shared alias,
or a single `upstream` id) are grouped with a union-find, as one finding each.

Input (stdin): {"zips": [path, ...], "probes": [{"ecosystem", "name", "version"}, ...]}.
Output (stdout): one entry per probe: {"status": "ok" | "invalid" | "indeterminate",
"groups": [{"ids": [...], "records": [...], "fixed": [...]}]}.
"""

import functools
import json
import re
import sys
import zipfile
from collections import defaultdict

from packaging.version import InvalidVersion, Version


class Unorderable(Exception):
    """A version the ecosystem's comparator cannot read."""


@functools.lru_cache(maxsize=None)
def semver_key(v):
    # SemVer 2.0.0 section 11: major.minor.patch numerically; a pre-release is lower than the
    # release; pre-release identifiers compare numerically when numeric, numeric < alphanumeric,
    # and a longer list wins when all shared identifiers are equal. Build metadata is ignored.
    m = re.fullmatch(r"(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(?:-([0-9A-Za-z.-]+))?(?:\+[0-9A-Za-z.-]+)?", v)
    if not m:
        raise Unorderable(v)
    core = tuple(int(x) for x in m.group(1, 2, 3))
    pre = m.group(4)
    if pre is None:
        return (core, 1, ())
    ids = []
    for ident in pre.split("."):
        if ident == "":
            raise Unorderable(v)
        if ident.isdigit():
            ids.append((0, int(ident), ""))
        else:
            ids.append((1, 0, ident))
    return (core, 0, tuple(ids))


@functools.lru_cache(maxsize=None)
def pep440_key(v):
    try:
        return Version(v)
    except InvalidVersion as e:
        raise Unorderable(v) from e


@functools.lru_cache(maxsize=None)
def maven_key(v):
    if not re.fullmatch(r"\d+(\.\d+)*", v):
        raise Unorderable(v)
    parts = [int(x) for x in v.split(".")]
    while parts and parts[-1] == 0:
        parts.pop()
    return tuple(parts)


KEYS = {
    "PyPI": pep440_key,
    "npm": semver_key,
    "crates.io": semver_key,
    "Go": semver_key,
    "Maven": maven_key,
}


def normalise(eco, name):
    if eco == "PyPI":
        return re.sub(r"[-_.]+", "-", name).lower()
    if eco in ("npm", "crates.io"):
        return name.lower()
    return name


def installed(eco, version):
    # The Go toolchain and module graph spell versions with a leading "v"; the Go database
    # does not.
    if eco == "Go" and version.startswith("v"):
        return version[1:]
    return version


def affected_by(entry, eco, version):
    """(affected?, fixed versions above `version`) for one `affected` entry; raises Unorderable."""
    key = KEYS[eco]
    v = key(version)
    hit = False
    fixed = []
    for rng in entry.get("ranges") or []:
        if rng["type"] not in ("ECOSYSTEM", "SEMVER"):
            continue  # GIT ranges name commits, which an installed package does not have
        rkey = semver_key if rng["type"] == "SEMVER" else key
        rv = rkey(version)
        events = []
        limits = []
        for ev in rng.get("events") or []:
            ((kind, ver),) = ev.items()
            if kind == "limit":
                limits.append(ver)
                continue
            order = (0, None) if (kind == "introduced" and ver == "0") else (1, rkey(ver))
            events.append((order, kind, ver))
        if limits and not any(l == "*" or rv < rkey(l) for l in limits):
            continue
        # Sort by version only; ties keep the record's order.
        events.sort(key=lambda e: (e[0][0],) if e[0][0] == 0 else (1, e[0][1]))
        vulnerable = False
        for (order, kind, ver) in events:
            if kind == "introduced":
                if order[0] == 0 or rv >= order[1]:
                    vulnerable = True
            elif kind == "fixed":
                if rv >= order[1]:
                    vulnerable = False
            elif kind == "last_affected":
                if rv > order[1]:
                    vulnerable = False
        if vulnerable:
            hit = True
            for (order, kind, ver) in events:
                if kind == "fixed" and rv < order[1] and ver not in fixed:
                    fixed.append(ver)
    if not hit:
        for listed in entry.get("versions") or []:
            if listed == version:
                hit = True
                break
            try:
                if key(listed) == v:
                    hit = True
                    break
            except Unorderable:
                pass
    return hit, fixed


def record_ids(rec):
    ids = {rec["id"], *(rec.get("aliases") or [])}
    up = rec.get("upstream") or []
    if len(up) == 1:
        ids.add(up[0])
    return ids


def main():
    req = json.load(sys.stdin)
    by_package = defaultdict(list)  # (eco, normalised name) -> [(record, entry)]
    for path in req["zips"]:
        with zipfile.ZipFile(path) as z:
            for info in z.infolist():
                if info.is_dir() or not info.filename.endswith(".json"):
                    continue
                rec = json.loads(z.read(info))
                if rec.get("withdrawn"):
                    continue
                for entry in rec.get("affected") or []:
                    eco = entry["package"]["ecosystem"].split(":")[0]
                    by_package[(eco, normalise(eco, entry["package"]["name"]))].append((rec, entry))
    out = []
    for probe in req["probes"]:
        eco = probe["ecosystem"]
        version = installed(eco, probe["version"])
        try:
            KEYS[eco](version)
        except Unorderable:
            out.append({"status": "invalid", "groups": []})
            continue
        hits = {}  # record id -> (record, fixed)
        status = "ok"
        for rec, entry in by_package.get((eco, normalise(eco, probe["name"])), []):
            try:
                hit, fixed = affected_by(entry, eco, version)
            except Unorderable:
                status = "indeterminate"
                continue
            if hit:
                prev = hits.setdefault(rec["id"], (rec, []))
                prev[1].extend(f for f in fixed if f not in prev[1])
        # Union-find over shared ids.
        parent = {rid: rid for rid in hits}

        def find(x):
            while parent[x] != x:
                x = parent[x]
            return x

        owner = {}
        for rid, (rec, _) in sorted(hits.items()):
            for i in sorted(record_ids(rec)):
                if i in owner:
                    a, b = find(owner[i]), find(rid)
                    if a != b:
                        parent[max(a, b)] = min(a, b)
                else:
                    owner[i] = rid
        groups = defaultdict(list)
        for rid in hits:
            groups[find(rid)].append(rid)
        result = []
        for members in groups.values():
            ids = set()
            fixed = []
            for rid in members:
                rec, f = hits[rid]
                ids |= record_ids(rec)
                fixed.extend(x for x in f if x not in fixed)
            result.append({"ids": sorted(ids), "records": sorted(members), "fixed": sorted(fixed)})
        result.sort(key=lambda g: g["records"])
        out.append({"status": status, "groups": result})
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    main()
