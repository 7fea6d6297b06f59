"""Two runs' outputs compared with no tolerance: the fault tests' way of
saying a fault changed nothing (tests/fault/test_kill_stages.py,
tests/lib/backpressure.py)."""
import json
import os

import tapsense_test as t


def canonical(out, interval_end=True):
    """assets.json by (network, ip, mac) and flows.json by tuple and interval;
    interval_end: keep each flow's interval end too (an interval merged with
    the next would show there)."""
    with open(os.path.join(out, "assets.json")) as f:
        assets = json.load(f)
    with open(os.path.join(out, "flows.json")) as f:
        flows = json.load(f)
    a = {(x["network"], x["ip"], x["mac"]): (x["hostname"], x["os"], x["vendor"], x["device_type"], x["bytes_in"],
                                             x["bytes_out"], x["packets_in"], x["packets_out"], x["first_seen"],
                                             x["last_seen"])
         for x in assets}
    fl = {}
    for x in flows:
        # An unassigned client (0.0.0.0) is one flow per MAC (README).
        k = (x["interval_start"], x["src_ip"], x.get("src_mac"), x["dst_ip"], x["dst_port"], x["protocol"],
             x["network"])
        t.check(k not in fl, "two flow records for one tuple and interval: %s" % (k,))
        fl[k] = (x["packets"], x["bytes_src_to_dst"], x["bytes_dst_to_src"], x["first_seen"], x["last_seen"])
        if interval_end:
            fl[k] += (x["interval_end"],)
    return a, fl


def compare(what, clean, got):
    ca, cf = clean
    ga, gf = got
    t.check(set(ca) == set(ga), "%s: assets differ: missing %s, extra %s" % (
        what, sorted(set(ca) - set(ga), key=str)[:5], sorted(set(ga) - set(ca), key=str)[:5]))
    bad = [k for k in ca if ca[k] != ga[k]]
    t.check(not bad, "%s: %d assets differ, e.g. %s: %s != clean %s" % (
        what, len(bad), bad[:1], [ga[k] for k in bad[:1]], [ca[k] for k in bad[:1]]))
    t.check(set(cf) == set(gf), "%s: flow keys differ: missing %s, extra %s" % (
        what, sorted(set(cf) - set(gf), key=str)[:3], sorted(set(gf) - set(cf), key=str)[:3]))
    bad = [k for k in cf if cf[k] != gf[k]]
    t.check(not bad, "%s: %d flows differ, e.g. %s: %s != clean %s" % (
        what, len(bad), bad[:1], [gf[k] for k in bad[:1]], [cf[k] for k in bad[:1]]))
