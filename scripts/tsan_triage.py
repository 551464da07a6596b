#!/usr/bin/env python3
"""Sorts the ThreadSanitizer reports of a log by who made the racing accesses.

    scripts/tsan_triage.py LOG [--supp FILE] [--show N]

For each report, each racing access is attributed to the first frame that is
neither the sanitizer runtime nor the C++ library: "ours" (a source of this
repository, a path starting with ../ from the build dir), "caf" (CAF's
headers, libcaf_*.so, a caf:: function) or "other". Reports are grouped by
those owners and the top functions.

With --supp, the suppression file is applied the way TSan applies it
(race: any frame of any stack of the report, the heap block's allocation and
the threads' creation included; race_top: the top frame of each of those
stacks; ^ $ * as in TSan's templates) and the reports it would hide are
listed separately. Printed in full: any report hidden by a frame outside its
two racing accesses (the check fails on those), and, for examination, the
hidden ones whose racing accesses both have our frames on top.
"""
import argparse
import collections
import re
import sys

FRAME = re.compile(r'^\s+#(\d+) (.*) (\S+) \((\S+?)\+0x[0-9a-f]+\)')
MOP = re.compile(r'^  (Previous )?(atomic |Atomic )?(read|write)', re.I)
OTHER_STACK = re.compile(r'^  (Location is heap block|Mutex |Thread T)')


def owner(frames):
    for fn, file, mod in frames:
        if 'libtsan' in mod or file.startswith('/usr/include/c++/') or 'libstdc++' in mod:
            continue
        if file.startswith('../'):
            return 'ours', fn
        if 'libcaf' in mod or file.startswith('/usr/include/caf/') or \
                re.match(r'^(non-virtual thunk to |void |bool |)caf::', fn) or fn.startswith('_ZN3caf'):
            return 'caf', fn
        return 'other', fn
    return 'runtime', frames[0][0] if frames else '?'


def parse(log):
    text = open(log, errors='replace').read()
    out = []
    for chunk in text.split('WARNING: ThreadSanitizer:')[1:]:
        body = chunk.split('SUMMARY: ThreadSanitizer')[0]
        kind = body.split('\n', 1)[0].strip().split(' (pid')[0]
        mops, stacks, cur = [], [], None
        for line in body.split('\n'):
            if MOP.match(line):
                cur = []
                mops.append(cur)
                stacks.append(cur)
                continue
            if OTHER_STACK.match(line):
                cur = []
                stacks.append(cur)
                continue
            m = FRAME.match(line)
            if m and cur is not None:
                cur.append((m.group(2).strip(), m.group(3), m.group(4)))
            elif not line.strip():
                cur = None
        out.append({'kind': kind, 'mops': mops, 'stacks': stacks, 'text': chunk})
    return out


def template_match(templ, s):
    if not templ:
        return False
    start = templ.startswith('^')
    if start:
        templ = templ[1:]
    end = templ.endswith('$')
    if end:
        templ = templ[:-1]
    parts = templ.split('*')
    pos = 0
    for i, p in enumerate(parts):
        if not p:
            continue
        if i == 0 and start:
            if not s.startswith(p):
                return False
            pos = len(p)
            continue
        j = s.find(p, pos)
        if j < 0:
            return False
        pos = j + len(p)
    return not end or s.endswith(parts[-1])


def load_supp(path):
    rules = []
    for line in open(path):
        line = line.strip()
        if not line or line.startswith('#'):
            continue
        typ, _, templ = line.partition(':')
        rules.append((typ, templ))
    return rules


def frame_matches(templ, frame):
    fn, file, mod = frame
    return any(template_match(templ, x) for x in (fn, file, mod))


def suppressed_by(report, rules):
    """(rule, True if it matched a frame of a racing access) or None."""
    if 'race' not in report['kind']:
        return None
    for typ, templ in rules:
        for st in report['stacks']:
            in_access = any(st is m for m in report['mops'])
            if typ == 'race' and any(frame_matches(templ, f) for f in st):
                return typ + ':' + templ, in_access
            if typ == 'race_top' and st and frame_matches(templ, st[0]):
                return typ + ':' + templ, in_access
    return None


def group(reports, show):
    cats = collections.Counter()
    ex = {}
    for r in reports:
        owners = [owner(m) for m in r['mops']]
        key = (r['kind'], tuple(o[0] for o in owners))
        cats[key] += 1
        ex.setdefault(key, collections.Counter())[tuple(o[1][:90] for o in owners)] += 1
    for k, n in cats.most_common():
        print(f'  {n:5d}  {k[0]}: {" vs ".join(k[1])}')
        for sig, c in ex[k].most_common(show):
            print(f'           {c:4d}  ' + '  |  '.join(sig))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('log')
    ap.add_argument('--supp')
    ap.add_argument('--show', type=int, default=3)
    a = ap.parse_args()
    reports = parse(a.log)
    if not a.supp:
        print(f'{len(reports)} reports')
        group(reports, a.show)
        return 0
    rules = load_supp(a.supp)
    hidden, kept, by_rule = [], [], collections.Counter()
    for r in reports:
        s = suppressed_by(r, rules)
        (hidden if s else kept).append(r)
        if s:
            by_rule[s[0]] += 1
            r['rule'], r['in_access'] = s
    print(f'{len(reports)} reports; {a.supp} would hide {len(hidden)}, leave {len(kept)}')
    for rule, n in by_rule.most_common():
        print(f'  {n:5d}  {rule}')
    print('hidden, by who made the racing accesses:')
    group(hidden, a.show)
    # A rule must match CAF code inside one of the two racing accesses; a
    # match only in the heap block's allocation or a thread's creation would
    # hide a race of ours on memory CAF happened to allocate.
    outside = [r for r in hidden if not r['in_access']]
    print(f'hidden by a frame outside the racing accesses: {len(outside)}')
    for r in outside[:a.show]:
        print('---- (' + r['rule'] + ')\nWARNING: ThreadSanitizer:' + r['text'][:6000])
    # Listed for examination: our frames on both racing accesses, hidden
    # because one of them runs inside CAF code (e.g. a message destroyed by
    # CAF's reference count, with our type's destructor on top).
    ours_only = [r for r in hidden if r['mops'] and all(owner(m)[0] == 'ours' for m in r['mops'])]
    print(f'hidden with our frames on both racing accesses (examine): {len(ours_only)}')
    for r in ours_only[:a.show]:
        print('---- (' + r['rule'] + ')\nWARNING: ThreadSanitizer:' + r['text'][:3000])
    print('left, by who made the racing accesses:')
    group(kept, a.show)
    return 0


if __name__ == '__main__':
    sys.exit(main())
