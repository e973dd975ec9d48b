#!/usr/bin/env python3
"""dbkit's lints against squawk's own rule tests.

For every case `<rule>__<n>/case.sql` of squawk's test suite (kept outside the
repository, see shared/corpus/README.md), run squawk (`pip install squawk-cli`; its
`--assume-in-transaction` mode is dbkit's model: a migration is one transaction unless
its first line is `-- dbkit:no-transaction`) and `dbkit check --offline` on the same
SQL, and compare, for the squawk rules dbkit has a counterpart of:

  - violations: squawk's violations of the case's rule that dbkit also reports
    (per case, min(squawk, dbkit) of the counterpart rules);
  - ok cases: cases where squawk reports none and dbkit does (a false alarm, unless
    the rule's doc says why dbkit's model differs).

    benches/squawk_parity.py [CASES_DIR] [--squawk PATH] [--dbkit PATH] [-v]
"""
import argparse
import collections
import json
import os
import subprocess
import tempfile

# squawk rule -> dbkit rules that report the same hazard.
COUNTERPARTS = {
    "adding-field-with-default": ["adding-field-with-default"],
    "adding-foreign-key-constraint": ["constraint-missing-not-valid"],
    "adding-not-nullable-field": ["adding-not-nullable-field"],
    "adding-required-field": ["adding-not-nullable-field"],
    # squawk's rule covers a plain ADD PRIMARY KEY too; dbkit's disallowed-unique-constraint does.
    "adding-serial-primary-key-field": ["adding-serial-primary-key-field", "disallowed-unique-constraint"],
    "ban-concurrent-index-creation-in-transaction": ["ban-concurrent-index-in-transaction"],
    "ban-drop-column": ["ban-drop-column"],
    "ban-drop-table": ["ban-drop-table"],
    "ban-uncommitted-transaction": ["transaction-nesting"],
    "changing-column-type": ["changing-column-type"],
    "constraint-missing-not-valid": ["constraint-missing-not-valid", "validate-in-same-transaction"],
    "disallowed-unique-constraint": ["disallowed-unique-constraint"],
    "identifier-too-long": ["identifier-too-long"],
    "prefer-repack": ["prefer-repack"],
    "renaming-column": ["renaming-column"],
    "renaming-table": ["renaming-table"],
    "require-concurrent-index-creation": ["require-concurrent-index-creation"],
    "require-concurrent-index-deletion": ["require-concurrent-index-deletion"],
    "require-concurrent-partition-detach": ["require-concurrent-partition-detach"],
    "require-concurrent-reindex": ["require-concurrent-reindex"],
    "transaction-nesting": ["transaction-nesting"],
}

# squawk reports prefer-repack only for PostgreSQL 19+, where REPACK exists; dbkit
# recommends pg_repack on every version.
SQUAWK_FLAGS = {"prefer-repack": ["--pg-version", "19"]}


def squawk(path, rule, exe):
    cmd = [exe, "--assume-in-transaction", "--reporter", "json"]
    cmd += SQUAWK_FLAGS.get(rule, []) + [path]
    out = subprocess.run(cmd, capture_output=True, text=True).stdout
    try:
        return [v for v in json.loads(out) if v["rule_name"] == rule]
    except ValueError:
        return []


def dbkit(sql, exe):
    with tempfile.TemporaryDirectory() as d:
        with open(os.path.join(d, "V1__case.sql"), "w") as f:
            f.write(sql)
        out = subprocess.run(
            [exe, "check", "--offline", "--migrations", d, "--format", "json"],
            capture_output=True, text=True, cwd=d,
        ).stdout
        return json.loads(out)["findings"]


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    p = argparse.ArgumentParser()
    p.add_argument("cases", nargs="?", default="/work/shared/corpus/squawk-parity")
    p.add_argument("--squawk", default="squawk")
    p.add_argument("--dbkit", default=os.path.join(here, "..", "target", "debug", "dbkit"))
    p.add_argument("-v", "--verbose", action="store_true")
    a = p.parse_args()

    stats = collections.defaultdict(lambda: collections.Counter())
    for case in sorted(os.listdir(a.cases)):
        rule = case.rsplit("__", 1)[0]
        if rule not in COUNTERPARTS:
            continue
        path = os.path.join(a.cases, case, "case.sql")
        sql = open(path).read()
        expected = len(squawk(path, rule, a.squawk))
        found = [f for f in dbkit(sql, a.dbkit) if f["rule"] in COUNTERPARTS[rule]]
        s = stats[rule]
        if expected:
            s["violations"] += expected
            s["agreed"] += min(expected, len(found))
            if len(found) < expected and a.verbose:
                print(f"MISSED {case}: squawk {expected}, dbkit {len(found)}")
        else:
            s["ok_cases"] += 1
            if found:
                s["ok_fired"] += 1
                if a.verbose:
                    print(f"FIRED  {case}: {[(f['rule'], f['line']) for f in found]}")

    total = collections.Counter()
    print(f"{'squawk rule':46} {'agreed':>13} {'ok cases fired':>15}")
    for rule in sorted(stats):
        s = stats[rule]
        total.update(s)
        print(f"{rule:46} {s['agreed']:>5} / {s['violations']:<5} {s['ok_fired']:>7} / {s['ok_cases']:<5}")
    pct = 100.0 * total["agreed"] / max(total["violations"], 1)
    print(f"{'total':46} {total['agreed']:>5} / {total['violations']:<5} {total['ok_fired']:>7} / {total['ok_cases']:<5}  ({pct:.1f} % of squawk's violations)")


if __name__ == "__main__":
    main()
