#!/usr/bin/env python3
"""Print "PASSED FAILED SKIPPED" for one kind of test report, for the summary
at the end of scripts/test.sh.

    test-counts.py go FILE...     gotestsum --jsonfile output (go test -json),
                                  read in order (a later result of a test wins)
    test-counts.py junit FILE...  JUnit XML (schemathesis), summed
    test-counts.py tap FILE       node --test TAP output (browser tests)

A missing or unreadable report prints "0 0 0": the caller knows whether the
step that should have written it failed.
"""
import json
import re
import sys
import xml.etree.ElementTree as ET


def go(paths):
    # Within one report, the last pass/fail/skip event of each (package,
    # test) is its result; subtests count as tests, as gotestsum counts them.
    # A test that started and never ended (its package timed out or crashed)
    # failed. Across reports (a test run in two passes, as the Go tests' race
    # and SQLite passes run the tests with no database), a failure in either
    # stands, and a pass stands over a skip. A package that fails without a
    # failing test (a build error, a panic in TestMain) counts as one
    # failure, so it can never read as all green.
    rank = {"skip": 0, "pass": 1, "fail": 2}
    results, failed_pkgs = {}, set()
    for path in paths:
        report = {}
        for line in lines([path]):
            try:
                e = json.loads(line)
            except ValueError:
                continue
            action, pkg, test = e.get("Action"), e.get("Package", ""), e.get("Test")
            if action == "run" and test:
                report.setdefault((pkg, test), "fail")
                continue
            if action not in ("pass", "fail", "skip"):
                continue
            if test:
                report[(pkg, test)] = action
            elif action == "fail":
                failed_pkgs.add(pkg)
        for key, action in report.items():
            if key not in results or rank[action] > rank[results[key]]:
                results[key] = action
    counts = {"pass": 0, "fail": 0, "skip": 0}
    for action in results.values():
        counts[action] += 1
    pkgs_with_failed_test = {pkg for (pkg, _), action in results.items() if action == "fail"}
    counts["fail"] += len(failed_pkgs - pkgs_with_failed_test)
    return counts["pass"], counts["fail"], counts["skip"]


def lines(paths):
    for path in paths:
        with open(path, encoding="utf-8") as f:
            yield from f


def junit(paths):
    passed = failed = skipped = 0
    for path in paths:
        for case in ET.parse(path).getroot().iter("testcase"):
            kinds = {child.tag for child in case}
            if kinds & {"failure", "error"}:
                failed += 1
            elif "skipped" in kinds:
                skipped += 1
            else:
                passed += 1
    return passed, failed, skipped


def tap(path):
    text = open(path, encoding="utf-8").read()

    def total(word):
        found = re.findall(r"^# %s (\d+)$" % word, text, re.M)
        return int(found[-1]) if found else 0

    return total("pass"), total("fail") + total("cancelled"), total("skipped") + total("todo")


def main():
    kind, paths = sys.argv[1], sys.argv[2:]
    try:
        if kind == "go":
            counts = go(paths)
        elif kind == "junit":
            counts = junit(paths)
        elif kind == "tap":
            counts = tap(paths[0])
        else:
            sys.exit("unknown report kind %r" % kind)
    except (OSError, ET.ParseError, IndexError):
        counts = (0, 0, 0)
    print(*counts)


if __name__ == "__main__":
    main()
