"""The three sensor endpoints over real HTTPS, with messages encoded and
decoded by the Cap'n Proto tool itself (`capnp convert json:packed`), not by
the platform's code: register (idempotent on code + uid, wrong/used code),
check-in (health, configuration revision + TOML whose SHA-256 Python checks,
commands by id, deregistration answering 403), reports (stored once, the
inventory over the API, one asset for a device two sensors see). On SQLite
and on a real PostgreSQL 15."""
import hashlib
import json
import os
import shutil
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import tapsense_test as t
import platform_test as pt

SCHEMA = os.path.join(t.SOURCE, "common", "schema", "platform.capnp")
PACKED = {"Content-Type": "application/x-capnp-packed"}


def encode(struct, obj):
    r = subprocess.run(["capnp", "convert", "json:packed", "-I/usr/include", SCHEMA, struct],
                       input=json.dumps(obj).encode(), capture_output=True, timeout=30)
    t.check(r.returncode == 0, "capnp encode %s: %s" % (struct, r.stderr.decode()))
    return r.stdout


def decode(struct, data):
    r = subprocess.run(["capnp", "convert", "packed:json", "-I/usr/include", SCHEMA, struct],
                       input=data, capture_output=True, timeout=30)
    t.check(r.returncode == 0, "capnp decode %s: %s (%r)" % (struct, r.stderr.decode(), data[:80]))
    return json.loads(r.stdout)


def post(p, path, struct, obj, auth=None):
    h = dict(PACKED)
    if auth:
        h["Authorization"] = "Sensor %s:%s" % auth
    return p.request("POST", path, encode(struct, obj), h)


def register(p, code, uid, want=200):
    st, h, body = post(p, "/sensor/v1/register", "RegisterRequest",
                       {"protocolVersion": 1, "code": code, "sensorUid": uid, "version": "0.1.0",
                        "hostname": "sensor-" + uid, "addresses": ["192.0.2.7"], "macs": ["02:00:00:00:00:07"]})
    t.check(st == want, "register %s/%s: %d %r" % (code, uid, st, body[:200]))
    if st != 200:
        t.check(h.get("Content-Type") == "text/plain" and body.count(b"\n") == 1,
                "an error is one text line: %r" % body)
        return None
    t.check(h.get("Content-Type") == "application/x-capnp-packed", "content type %r" % h.get("Content-Type"))
    r = decode("RegisterResponse", body)
    t.check(r.get("status") == "registered", "status after registration: %r" % r)
    return r


def checkin(p, auth, state="sensing", rev=0, last_cmd=0, want=200):
    st, _, body = post(p, "/sensor/v1/checkin", "CheckIn",
                       {"protocolVersion": 1, "state": state, "version": "0.1.0", "hostname": "h",
                        "configRevision": rev, "lastCommandId": last_cmd,
                        "health": {"cpuPercent": 20, "ramUsedBytes": 22, "ramTotalBytes": 100, "diskUsedBytes": 4,
                                   "diskTotalBytes": 100, "activeAssets1h": 73},
                        "interfaces": [{"name": "eth1", "up": True, "linkMbps": 1000, "mode": "default"}],
                        "events": [{"id": 1, "name": "Driver Change Required", "module": "capture",
                                    "type": "warning", "count": 1, "firstSeen": 1, "lastSeen": 2}]},
                       auth)
    t.check(st == want, "check-in: %d, expected %d (%r)" % (st, want, body[:200]))
    return decode("CheckInResponse", body) if st == 200 else None


def asset(key, ip, mac, host, network=""):
    return {"key": key, "ip": ip, "mac": mac, "hostname": host, "network": network, "vendor": "Siemens",
            "firstSeen": 100, "lastSeen": 200, "bytesIn": 1000,
            "evidence": [{"source": "dhcp", "field": "hostname", "value": host, "confidence": 90}]}


def report(p, auth, rid, assets, full=False):
    st, _, body = post(p, "/sensor/v1/reports", "Report",
                       {"protocolVersion": 1, "reportId": rid, "full": full, "assets": assets}, auth)
    t.check(st == 200, "report %d: %d %r" % (rid, st, body[:200]))
    return decode("ReportAck", body)


def scenario(backend, db):
    work = t.tmpdir("tps-platform-proto-")
    p = pt.Platform(os.path.join(work, "data"), db=db)
    try:
        p.add_user("admin", "admin", "admin-password")
        tok = p.add_token("admin")
        p.start()
        _, _, s1 = p.api("POST", "/api/v1/sensors", {"name": "branch-a", "location": "Pune"}, token=tok)
        _, _, s2 = p.api("POST", "/api/v1/sensors", {"name": "branch-b", "location": "wifi"}, token=tok)
        code1, code2 = s1["personalization_code"], s2["personalization_code"]

        # Registration: wrong code, then idempotent on (code, uid), then a used code.
        register(p, "1" * 14 if code1 != "1" * 14 else "2" * 14, "uid-a", want=404)
        r1 = register(p, code1, "uid-a")
        t.check(r1["sensorId"] == str(s1["id"]) and r1["name"] == "branch-a" and r1["location"] == "Pune",
                "registration answer: %r" % r1)
        r1b = register(p, code1, "uid-a")
        t.check(r1b["sensorId"] == r1["sensorId"] and r1b["sensorKey"] != r1["sensorKey"], "retry: %r" % r1b)
        register(p, code1, "uid-other", want=409)
        _, _, lst = p.api("GET", "/api/v1/sensors", token=tok)
        t.check(len(lst["items"]) == 2, "a retry made another sensor: %r" % lst)
        a = (r1b["sensorId"], r1b["sensorKey"])
        checkin(p, (r1["sensorId"], r1["sensorKey"]), want=401)   # the replaced key
        _, _, one = p.api("GET", "/api/v1/sensors/%d" % s1["id"], token=tok)
        t.check(one["status"] == "Registered", "before the first check-in: %r" % one["status"])

        # Configuration and commands through check-ins.
        st, _, _ = p.api("PUT", "/api/v1/config/excluded", [{"name": "lab", "ranges": ["10.20.99.0/24"]}], token=tok)
        t.check(st == 200, "excluded PUT: %d" % st)
        c = checkin(p, a, "paused")
        t.check(c["status"] == "paused", "status in the answer: %r" % c)
        rev = int(c["configRevision"])
        cfg = c.get("config", "")
        t.check('[[excluded]]\nname = "lab"\nranges = ["10.20.99.0/24"]' in cfg, "config: %r" % cfg)
        t.check(c["configHash"] == hashlib.sha256(cfg.encode()).hexdigest(), "configHash is not SHA-256 of config")
        t.check(int(c["pollSeconds"]) == 30, "pollSeconds: %r" % c)
        c = checkin(p, a, "sensing", rev)
        t.check(not c.get("config") and int(c["configRevision"]) == rev, "config resent: %r" % c)
        _, _, one = p.api("GET", "/api/v1/sensors/%d" % s1["id"], token=tok)
        t.check(one["status"] == "Sensing" and one["cpu_percent"] == 20 and one["ram_percent"] == 22
                and one["active_assets_1h"] == 73 and one["interfaces"][0]["name"] == "eth1",
                "the sensor's health over the API: %r" % one)
        _, _, ev = p.api("GET", "/api/v1/events?sensor=%d" % s1["id"], token=tok)
        t.check(sum(e["event"] == "Driver Change Required" for e in ev["items"]) == 1,
                "a sensor event stored once: %r" % ev)
        st, _, cmd = p.api("POST", "/api/v1/sensors/%d/commands" % s1["id"], {"command": "pause"}, token=tok)
        t.check(st == 201 and cmd["id"] == 1, "command: %d %r" % (st, cmd))
        c = checkin(p, a, "sensing", rev, 0)
        t.check([(int(x["id"]), x["command"]) for x in c.get("commands", [])] == [(1, "pause")], "commands: %r" % c)
        c = checkin(p, a, "paused", rev, 1)
        t.check(not c.get("commands"), "an acknowledged command again: %r" % c)
        _, _, cmds = p.api("GET", "/api/v1/sensors/%d/commands" % s1["id"], token=tok)
        t.check(cmds["items"][0]["acknowledged"] is True, "acknowledged: %r" % cmds)

        # Reports: stored once; two sensors seeing one device give one asset.
        ack = report(p, a, 1, [asset("02:aa:00:00:00:01", "10.1.0.5", "02:aa:00:00:00:01", "PLC-1"),
                               asset("10.1.0.6", "10.1.0.6", "", "hmi-6")], full=True)
        t.check(not ack.get("duplicate") and int(ack["reportId"]) == 1, "ack: %r" % ack)
        ack = report(p, a, 1, [asset("02:aa:00:00:00:09", "10.1.0.9", "02:aa:00:00:00:09", "x")])
        t.check(ack.get("duplicate") is True, "a repeated report: %r" % ack)
        r2 = register(p, code2, "uid-b")
        b = (r2["sensorId"], r2["sensorKey"])
        report(p, b, 1, [asset("02:aa:00:00:00:01", "10.1.0.5", "02:aa:00:00:00:01", "")], full=True)
        _, _, assets = p.api("GET", "/api/v1/assets", token=tok)
        items = assets["items"]
        t.check(len(items) == 2, "assets: %r" % items)
        plc = [x for x in items if x["mac"] == "02:aa:00:00:00:01"]
        t.check(len(plc) == 1 and sorted(s["name"] for s in plc[0]["sensors"]) == ["branch-a", "branch-b"]
                and plc[0]["hostname"] == "PLC-1" and plc[0]["ip"] == "10.1.0.5", "the merged asset: %r" % plc)
        _, _, detail = p.api("GET", "/api/v1/assets/%d" % plc[0]["id"], token=tok)
        t.check(len(detail["discovery"]) == 2 and
                detail["discovery"][0]["record"]["evidence"][0]["source"] == "dhcp", "evidence: %r" % detail)
        _, _, only_b = p.api("GET", "/api/v1/assets?sensor=%s" % b[0], token=tok)
        t.check([x["mac"] for x in only_b["items"]] == ["02:aa:00:00:00:01"], "filter by sensor: %r" % only_b)

        # Delete Assets, then Deregister: the key answers 403.
        p.api("POST", "/api/v1/sensors/%s/commands" % b[0], {"command": "delete_assets"}, token=tok)
        _, _, after = p.api("GET", "/api/v1/assets", token=tok)
        t.check(len(after["items"]) == 2 and all(len(x["sensors"]) == 1 for x in after["items"]),
                "after delete_assets on branch-b: %r" % after)
        p.api("POST", "/api/v1/sensors/%d/commands" % s1["id"], {"command": "deregister"}, token=tok)
        st, _, body = post(p, "/sensor/v1/checkin", "CheckIn", {"protocolVersion": 1}, a)
        t.check(st == 403 and body.count(b"\n") == 1, "a deregistered sensor's check-in: %d %r" % (st, body))
        _, _, one = p.api("GET", "/api/v1/sensors/%d" % s1["id"], token=tok)
        t.check(one["status"] == "Deregistered", "status: %r" % one["status"])
        print("%s: all checks passed" % backend)
    finally:
        p.stop()
        shutil.rmtree(work, ignore_errors=True)


def run():
    if not os.path.exists(pt.PLATFORM):
        t.skip("build/bin/tapsense-platform not built")
    t.need("capnp")
    scenario("sqlite", None)
    pg = pt.Postgres()
    try:
        if not pg.running:
            t.skip("sqlite passed; postgresql not run: " + pg.why)
        scenario("postgresql", pg.new_database())
    finally:
        pg.stop()


t.main(run)
