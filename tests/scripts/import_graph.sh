#!/usr/bin/env bash
# The import graphs have no circle (issue 12): the file-level graph of
# src/daemon and of src/lib (one node per file, x.c and x.h together),
# from the #include "..." lines and, when the build's objects are there,
# from the calls (each undefined symbol of an object to the object that
# defines it). Fails on any cycle; prints both graphs, the library's
# folders (rooms) and the daemon's layering (each file above everything
# it reaches).
#   import_graph.sh [--dot]    --dot: the graphs in Graphviz form too
# SG_SRC: the tree; the build is found beside $SG_CLI (ctest sets both) or
# in SG_BUILD.
set -u
SRC=${SG_SRC:-$(cd "$(dirname "$0")/../.." && pwd)}
BUILD=${SG_BUILD:-}
[ -z "$BUILD" ] && [ -n "${SG_CLI:-}" ] && BUILD=$(dirname "$SG_CLI")
[ -z "$BUILD" ] && [ -d "$SRC/build" ] && BUILD=$SRC/build
exec /usr/bin/python3 - "$SRC" "$BUILD" "$@" <<'PY'
import os, re, subprocess, sys

src, build = sys.argv[1], sys.argv[2]
dot = '--dot' in sys.argv[3:]
inc_re = re.compile(r'^\s*#\s*include\s+"([^"]+)"', re.M)

def unit(path, root):
    """x.c and x.h of one folder are one node, named relative to root."""
    return os.path.splitext(os.path.relpath(path, root))[0]

def files(root):
    for d, _, fs in os.walk(root):
        for f in sorted(fs):
            if f.endswith(('.c', '.h')):
                yield os.path.join(d, f)

def include_edges(root, search):
    """unit -> units it includes (resolved beside the file, then in search)."""
    edges = {}
    for f in files(root):
        u = unit(f, root)
        edges.setdefault(u, set())
        with open(f, encoding='utf-8', errors='replace') as fh:
            for name in inc_re.findall(fh.read()):
                for base in [os.path.dirname(f)] + search:
                    p = os.path.normpath(os.path.join(base, name))
                    if os.path.exists(p):
                        break
                else:
                    continue
                if p.startswith(root + os.sep):
                    v = unit(p, root)
                    if v != u:
                        edges[u].add(v)
    return edges

def objects(root_rel):
    """unit -> object file, for the sources below root_rel (src/daemon...)."""
    out = {}
    if not build or not os.path.isdir(os.path.join(build, 'CMakeFiles')):
        return out
    for d, _, fs in os.walk(os.path.join(build, 'CMakeFiles')):
        for f in fs:
            if not f.endswith('.c.o'):
                continue
            p = os.path.join(d, f)
            m = re.search(r'/(' + re.escape(root_rel) + r'/.*)\.c\.o$', p)
            if m and '/fuzz' not in d:
                out[os.path.relpath(m.group(1), root_rel)] = p
    return out

def call_edges(objs):
    """Two nm runs over all the objects (one nm a file was ~12 s)."""
    unit_of = {o: u for u, o in objs.items()}
    def nm(args):
        r = subprocess.run(['nm', '-A'] + args + sorted(unit_of), capture_output=True, text=True)
        for line in r.stdout.split('\n'):
            path, _, rest = line.partition(':')
            parts = rest.split()
            if path in unit_of and parts:
                yield unit_of[path], parts
    defs, undef = {}, {u: set() for u in objs}
    for u, parts in nm(['--defined-only', '-g']):
        if len(parts) == 3:
            defs.setdefault(parts[2], u)
    for u, parts in nm(['-u']):
        undef[u].add(parts[-1])
    edges = {}
    for u, syms in undef.items():
        edges[u] = {defs[s] for s in syms if s in defs and defs[s] != u}
    return edges

def merge(a, b):
    out = {k: set(v) for k, v in a.items()}
    for k, v in b.items():
        out.setdefault(k, set()).update(v)
    for v in list(out.values()):
        for w in v:
            out.setdefault(w, set())
    return out

def cycles(g):
    """Tarjan: the strongly connected components with more than one node."""
    index, low, stack, on, out, n = {}, {}, [], set(), [], [0]
    sys.setrecursionlimit(10000)
    def visit(v):
        index[v] = low[v] = n[0]; n[0] += 1
        stack.append(v); on.add(v)
        for w in sorted(g[v]):
            if w not in index:
                visit(w); low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop(); on.discard(w); comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))
    for v in sorted(g):
        if v not in index:
            visit(v)
    return out

def levels(g):
    """Height above the ground: 0 for a node that reaches nothing."""
    memo = {}
    def h(v, seen=()):
        if v in memo:
            return memo[v]
        if v in seen:
            return 0
        memo[v] = r = 1 + max((h(w, seen + (v,)) for w in g[v]), default=-1)
        return r
    return {v: h(v) for v in g}

def show(title, g):
    print('== %s: %d nodes, %d edges' % (title, len(g), sum(len(v) for v in g.values())))
    for v in sorted(g):
        print('  %s -> %s' % (v, ', '.join(sorted(g[v])) if g[v] else '(ground)'))
    if dot:
        print('digraph "%s" {' % title)
        for v in sorted(g):
            for w in sorted(g[v]):
                print('  "%s" -> "%s";' % (v, w))
        print('}')

bad = 0
lib_root = os.path.join(src, 'src', 'lib')
daemon_root = os.path.join(src, 'src', 'daemon')
search = [lib_root, os.path.join(src, 'src'), os.path.join(src, 'include')]

checked_calls = True
for title, root, rel in (('src/daemon', daemon_root, 'src/daemon'), ('src/lib', lib_root, 'src/lib')):
    g = include_edges(root, search)
    objs = objects(rel)
    if objs:
        g = merge(g, call_edges(objs))
    else:
        checked_calls = False
    show(title + (' (includes and calls)' if objs else ' (includes only: no build found)'), g)
    for c in cycles(g):
        print('FAIL %s: a circle through %s' % (title, ' <-> '.join(c)))
        bad += 1
    if title == 'src/lib':
        rooms = {}
        for v, ws in g.items():
            a = v.split('/')[0]
            rooms.setdefault(a, set())
            rooms[a].update(w.split('/')[0] for w in ws if w.split('/')[0] != a)
        show('src/lib folders', rooms)
        for c in cycles(rooms):
            print('FAIL src/lib folders: a circle through %s' % ' <-> '.join(c))
            bad += 1
    else:
        lv = levels(g)
        print('== the daemon\'s layering (each file above all it reaches; 0 = ground)')
        for k in range(max(lv.values()), -1, -1):
            print('  %d: %s' % (k, ', '.join(sorted(v for v in lv if lv[v] == k))))
if not checked_calls:
    print('note: calls not checked (no build objects); includes only')
print('%s' % ('no circle' if bad == 0 else '%d circle(s)' % bad))
sys.exit(1 if bad else 0)
PY
