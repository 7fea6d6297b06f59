#!/usr/bin/env python3
"""Prints assets.json as a table: IP, MAC, vendor, hostname, OS, device type, class, bytes."""
import json
import sys


def human(n):
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if n < 1024 or unit == "TB":
            return ("%d %s" % (n, unit)) if unit == "B" else ("%.1f %s" % (n, unit))
        n /= 1024.0


def main():
    if len(sys.argv) != 2:
        print("usage: show-assets.py assets.json", file=sys.stderr)
        return 2
    try:
        with open(sys.argv[1]) as f:
            assets = json.load(f)
    except (OSError, ValueError) as e:
        print("show-assets: %s" % e, file=sys.stderr)
        return 1
    cols = ["IP", "MAC", "VENDOR", "HOSTNAME", "OS", "TYPE", "CLASS", "BYTES"]
    rows = []
    for a in assets:
        rows.append([a.get("ip") or "-", a.get("mac") or "-", (a.get("vendor") or "-")[:28],
                     a.get("hostname") or "-", (a.get("os") or "-")[:24],
                     (a.get("device_type") or "-")[:16], a.get("class") or "-",
                     human((a.get("bytes_in") or 0) + (a.get("bytes_out") or 0))])
    widths = [max([len(c)] + [len(r[i]) for r in rows]) for i, c in enumerate(cols)]
    line = lambda r: "  ".join(v.ljust(widths[i]) for i, v in enumerate(r)).rstrip()
    print("%d device(s) found" % len(rows))
    print(line(cols))
    for r in rows:
        print(line(r))
    return 0


if __name__ == "__main__":
    sys.exit(main())
