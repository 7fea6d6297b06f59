"""Fleet operations on the platform, over real HTTPS with messages encoded by
the Cap'n Proto tool (`capnp convert`), against a real tapsense-platform whose
clock a test moves through TAPSENSE_PLATFORM_CLOCK_FILE:

- subscriptions (the guide's table): an inactive sensor subscription keeps
  sensing 30 days, then one pause command (start_sensing refused until it is
  reactivated); an inactive platform subscription keeps sensing 30 days,
  then 403 on the sensor's next call, Deregistered, registration refused
  until reactivated; a sensor that never calls is deregistered by the sweeper;
- e-mail: sensor events and derived ones (Not Connected, Asset Reporting
  Stopped) reach a local SMTP sink (aiosmtpd) exactly once each, to every
  recipient of the general settings, also when the sink was down at first;
- exports: the inventory as OCSF Device Inventory Info lines checked against
  the class's required attributes, the flows as ECS documents, both paged;
- Retry-After: with one worker and one report in flight allowed, concurrent
  reports get 503 + Retry-After and are accepted when sent again."""
import datetime
import json
import os
import shutil
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import tapsense_test as t
import platform_test as pt

SCHEMA = os.path.join(t.SOURCE, "common", "schema", "platform.capnp")
PACKED = {"Content-Type": "application/x-capnp-packed"}
DAY = 86400

# OCSF 1.x, class Device Inventory Info (uid 5001, category Discovery 5), from
# github.com/ocsf/ocsf-schema: events/base_event.json marks activity_id,
# category_uid, class_uid, metadata, severity_id, time and type_uid
# "required"; events/discovery/inventory_info.json adds device; objects/
# device.json requires type_id (enum 0-8, 99); objects/metadata.json requires
# product and version, objects/product.json vendor_name. type_uid is
# class_uid * 100 + activity_id (discovery activities: 1 Log, 2 Collect).
OCSF_REQUIRED = ["activity_id", "category_uid", "class_uid", "metadata", "severity_id", "time", "type_uid", "device"]
OCSF_DEVICE_TYPE_IDS = {0, 1, 2, 3, 4, 5, 6, 7, 8, 99}


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


def post(p, path, struct, obj, auth=None, raw=None):
    h = dict(PACKED)
    if auth:
        h["Authorization"] = "Sensor %s:%s" % auth
    return p.request("POST", path, raw if raw is not None else encode(struct, obj), h)


def register(p, code, uid, want=200):
    st, _, body = post(p, "/sensor/v1/register", "RegisterRequest",
                       {"protocolVersion": 1, "code": code, "sensorUid": uid, "version": "0.1.0",
                        "hostname": "h-" + uid})
    t.check(st == want, "register %s: %d, expected %d (%r)" % (uid, st, want, body[:200]))
    if st != 200:
        return None
    r = decode("RegisterResponse", body)
    return (r["sensorId"], r["sensorKey"])


def checkin(p, auth, state="sensing", last_cmd=0, events=(), want=200):
    st, _, body = post(p, "/sensor/v1/checkin", "CheckIn",
                       {"protocolVersion": 1, "state": state, "version": "0.1.0", "hostname": "h",
                        "lastCommandId": last_cmd, "events": list(events)}, auth)
    t.check(st == want, "check-in: %d, expected %d (%r)" % (st, want, body[:200]))
    return (decode("CheckInResponse", body) if st == 200 else body.decode())


def commands(c):
    return [(int(x["id"]), x["command"]) for x in c.get("commands", [])]


def new_sensor(p, tok, name):
    st, _, s = p.api("POST", "/api/v1/sensors", {"name": name, "location": "lab"}, token=tok)
    t.check(st == 201, "create %s: %d %r" % (name, st, s))
    return s


def wait_for(what, fn, timeout=30, every=0.3):
    end = time.time() + timeout
    while time.time() < end:
        v = fn()
        if v:
            return v
        time.sleep(every)
    raise t.Failure("timed out waiting for " + what)


class Clock:
    def __init__(self, path):
        self.path = path
        self.set(0)

    def set(self, seconds):
        tmp = self.path + ".tmp"
        with open(tmp, "w") as f:
            f.write("%d\n" % seconds)
        os.replace(tmp, self.path)


def start_platform(work, extra=(), poll=2):
    p = pt.Platform(os.path.join(work, "data"), poll_seconds=poll)
    p.add_user("admin", "admin", "admin-password")
    p.add_user("viewer", "viewer", "viewer-password")
    tok, vtok = p.add_token("admin"), p.add_token("viewer")
    clock = Clock(os.path.join(work, "clock"))
    p.start(extra=extra, env={"TAPSENSE_PLATFORM_CLOCK_FILE": clock.path})
    return p, tok, vtok, clock


def events_named(p, tok, sid, name):
    _, _, ev = p.api("GET", "/api/v1/events?sensor=%s&limit=1000" % sid, token=tok)
    return [e for e in ev["items"] if e["event"] == name]


def subscriptions(work):
    p, tok, vtok, clock = start_platform(work)
    try:
        st, _, _ = p.api("GET", "/api/v1/subscriptions", token=vtok)
        t.check(st == 403, "a viewer reads subscriptions: %d" % st)
        st, _, body = p.api("PUT", "/api/v1/subscriptions", {"sensor": {"end_date": "2027-02-30"}}, token=tok)
        t.check(st == 400 and "end_date" in body["detail"], "an impossible date: %d %r" % (st, body))
        st, _, subs = p.api("GET", "/api/v1/subscriptions", token=tok)
        t.check(st == 200 and subs["platform"]["active"] and subs["sensor"]["end_date"] is None,
                "no end date is active: %r" % subs)

        today = datetime.datetime.now(datetime.timezone.utc).date()
        yesterday = (today - datetime.timedelta(days=1)).isoformat()
        next_year = (today + datetime.timedelta(days=365)).isoformat()

        # --- the sensor subscription: 30 days of sensing, then Paused.
        sa = new_sensor(p, tok, "branch-a")
        a = register(p, sa["personalization_code"], "uid-a")
        checkin(p, a)
        st, _, subs = p.api("PUT", "/api/v1/subscriptions", {"sensor": {"end_date": yesterday}}, token=tok)
        t.check(st == 200 and not subs["sensor"]["active"] and not subs["sensor"]["enforced"]
                and subs["sensor"]["sensors_become"] == "Paused", "lapsed sensor subscription: %r" % subs)
        t.check(commands(checkin(p, a)) == [], "paused on the day it lapsed")
        clock.set(29 * DAY)
        t.check(commands(checkin(p, a)) == [], "paused within the 30 days of grace")
        clock.set(31 * DAY)
        c = checkin(p, a)
        t.check([x[1] for x in commands(c)] == ["pause"], "after 30 days, one pause: %r" % c)
        pause_id = commands(c)[0][0]
        c = checkin(p, a, state="paused", last_cmd=pause_id)
        t.check(commands(c) == [], "the pause again: %r" % c)
        t.check(c["status"] == "paused", "status: %r" % c)
        time.sleep(2.5)  # the sweeper runs every second: it must not pause again
        t.check(commands(checkin(p, a, state="paused", last_cmd=pause_id)) == [], "paused twice by the sweeper")
        t.check(len(events_named(p, tok, sa["id"], "Sensor Paused")) == 1, "one Sensor Paused event")
        st, _, body = p.api("POST", "/api/v1/sensors/%d/commands" % sa["id"], {"command": "start_sensing"}, token=tok)
        t.check(st == 409 and "reactivate" in body["detail"], "start_sensing while lapsed: %d %r" % (st, body))
        p.api("PUT", "/api/v1/subscriptions", {"sensor": {"end_date": next_year}}, token=tok)
        t.check(commands(checkin(p, a, state="paused", last_cmd=pause_id)) == [],
                "reactivation alone starts nothing (the guide: by hand)")
        st, _, cmd = p.api("POST", "/api/v1/sensors/%d/commands" % sa["id"], {"command": "start_sensing"}, token=tok)
        t.check(st == 201, "start_sensing after reactivation: %d" % st)
        c = checkin(p, a, state="paused", last_cmd=pause_id)
        t.check(commands(c) == [(cmd["id"], "start_sensing")], "the start: %r" % c)
        checkin(p, a, state="sensing", last_cmd=cmd["id"])

        # --- the platform subscription: 30 days, then Deregistered.
        clock.set(0)
        sb = new_sensor(p, tok, "branch-b")   # registered, then silent: the sweeper's case
        register(p, sb["personalization_code"], "uid-b")
        p.api("PUT", "/api/v1/subscriptions", {"platform": {"end_date": yesterday}}, token=tok)
        checkin(p, a, last_cmd=cmd["id"])
        clock.set(29 * DAY)
        checkin(p, a, last_cmd=cmd["id"])
        clock.set(31 * DAY)
        body = checkin(p, a, last_cmd=cmd["id"], want=403)
        t.check("subscription" in body and body.count("\n") == 1, "the 403 says why in one line: %r" % body)
        checkin(p, a, last_cmd=cmd["id"], want=403)
        _, _, one = p.api("GET", "/api/v1/sensors/%d" % sa["id"], token=tok)
        t.check(one["status"] == "Deregistered", "status: %r" % one["status"])
        wait_for("the sweeper to deregister the silent sensor",
                 lambda: p.api("GET", "/api/v1/sensors/%d" % sb["id"], token=tok)[2]["status"] == "Deregistered")
        for s in (sa, sb):
            t.check(len(events_named(p, tok, s["id"], "Sensor Deregistered")) == 1,
                    "one Sensor Deregistered event for %s" % s["name"])
        _, _, code = p.api("POST", "/api/v1/sensors/%d/code" % sa["id"], token=tok)
        register(p, code["personalization_code"], "uid-a", want=403)
        p.api("PUT", "/api/v1/subscriptions", {"platform": {"end_date": next_year}}, token=tok)
        a2 = register(p, code["personalization_code"], "uid-a")
        t.check(checkin(p, a2)["status"] == "sensing", "sensing again after registering again")
        print("subscriptions: all checks passed")
    finally:
        p.stop()


class Sink:
    """aiosmtpd on loopback, started and stopped by the test."""

    def __init__(self, port):
        from aiosmtpd.controller import Controller
        self.mails = []
        sink = self

        class Handler:
            async def handle_DATA(self, server, session, envelope):
                sink.mails.append((list(envelope.rcpt_tos), envelope.mail_from,
                                   envelope.content.decode("utf-8", "replace")))
                return "250 OK"

        self.controller = Controller(Handler(), hostname="127.0.0.1", port=port)

    def start(self):
        self.controller.start()

    def stop(self):
        self.controller.stop()


def header(mail, name):
    for line in mail.split("\r\n"):
        if line.lower().startswith(name.lower() + ":"):
            return line.split(":", 1)[1].strip()
    return None


def email(work):
    try:
        import aiosmtpd  # noqa: F401
    except ImportError:
        t.skip("python3-aiosmtpd is not installed (deploy/install-deps.sh)")
    port = t.free_port()
    p, tok, _, clock = start_platform(work, extra=["--smtp", "smtp://127.0.0.1:%d" % port,
                                                   "--smtp-from", "platform@example.test",
                                                   "--report-stale-minutes", "1"])
    sink = None
    try:
        st, _, _ = p.api("PUT", "/api/v1/config/general",
                         {"email_recipients": ["ops@example.test", "soc@example.test"]}, token=tok)
        t.check(st == 200, "general settings: %d" % st)
        s = new_sensor(p, tok, "plant-7")
        a = register(p, s["personalization_code"], "uid-7")
        ev = [{"id": 1, "name": "Driver Change Required", "module": "capture", "type": "Moderate", "count": 1,
               "firstSeen": 1, "lastSeen": 2},
              {"id": 2, "name": "Stage Crash Loop", "module": "supervisor", "type": "error", "count": 3,
               "firstSeen": 1, "lastSeen": 2, "message": "aggregator restarted 3 times in 60 s"}]
        checkin(p, a, events=ev)
        time.sleep(5)  # the sink is down: the platform tries, fails, keeps them
        sink = Sink(port)
        sink.start()
        wait_for("two mails once the sink is up", lambda: len(sink.mails) >= 2, timeout=90)
        # Derived events: Not Connected (no check-in for 3 polls + 30 s), then
        # Asset Reporting Stopped (sensing, checking in, no report for 1 minute).
        clock.set(60)
        wait_for("Sensor Not Connected", lambda: events_named(p, tok, s["id"], "Sensor Not Connected"))
        clock.set(120)
        ev[0]["count"], ev[0]["lastSeen"] = 5, 9  # the same events again, counted up: not news
        checkin(p, a, events=ev)
        wait_for("Asset Reporting Stopped", lambda: events_named(p, tok, s["id"], "Asset Reporting Stopped"))
        wait_for("four mails", lambda: len(sink.mails) >= 4, timeout=60)
        time.sleep(5)  # anything extra would arrive by now
        subjects = sorted(header(m[2], "Subject") for m in sink.mails)
        t.check(subjects == sorted("[tapsense] plant-7: " + n for n in
                                   ("Driver Change Required", "Stage Crash Loop", "Sensor Not Connected",
                                    "Asset Reporting Stopped")),
                "each event mailed exactly once (no Registered/Connected info mails): %r" % subjects)
        ids = [header(m[2], "X-Tapsense-Event-Id") for m in sink.mails]
        t.check(len(set(ids)) == 4, "event ids: %r" % ids)
        for rcpts, frm, body in sink.mails:
            t.check(sorted(rcpts) == ["ops@example.test", "soc@example.test"] and frm == "platform@example.test",
                    "envelope: %r from %r" % (rcpts, frm))
        crash = [m for m in sink.mails if "Stage Crash Loop" in header(m[2], "Subject")][0][2]
        t.check("aggregator restarted 3 times in 60 s" in crash and "Module: supervisor" in crash,
                "the mail's body: %r" % crash)
        print("e-mail: all checks passed")
    finally:
        p.stop()
        if sink is not None:
            sink.stop()


def asset(key, ip, mac, host, dtype="", dclass="", os_name=""):
    return {"key": key, "ip": ip, "mac": mac, "hostname": host, "vendor": "Siemens", "deviceType": dtype,
            "deviceClass": dclass, "os": os_name, "firstSeen": 1_700_000_000_000_000_000,
            "lastSeen": 1_700_000_100_000_000_000}


def flow(i):
    return {"intervalStart": 1_700_000_000_000_000_000 + i, "intervalEnd": 1_700_000_060_000_000_000,
            "client": "10.1.0.%d" % (10 + i), "server": "10.1.0.5", "protocol": 6, "serverPort": 502,
            "packets": 10 + i, "bytesClientToServer": 100 + i, "bytesServerToClient": 200 + i,
            "application": "modbus", "network": "plant"}


def get_lines(p, tok, path):
    st, h, body = p.request("GET", path, None, {"Authorization": "Bearer " + tok})
    t.check(st == 200 and h.get("Content-Type") == "application/x-ndjson", "%s: %d %r" % (path, st, h))
    lines = [json.loads(x) for x in body.decode().splitlines()]
    return lines, h.get("X-Next-Cursor")


def paged(p, tok, what, limit):
    out, cursor, pages = [], "0", 0
    while cursor is not None:
        lines, cursor = get_lines(p, tok, "/api/v1/export/%s?limit=%d&cursor=%s" % (what, limit, cursor))
        t.check(len(lines) <= limit, "a page larger than its limit")
        out += lines
        pages += 1
    return out, pages


def exports(work):
    p, tok, vtok, _ = start_platform(work)
    try:
        s = new_sensor(p, tok, "plant")
        a = register(p, s["personalization_code"], "uid-p")
        assets = [asset("02:aa:00:00:00:01", "10.1.0.5", "02:aa:00:00:00:01", "PLC-1", "PLC", "OT"),
                  asset("02:aa:00:00:00:02", "10.1.0.6", "02:aa:00:00:00:02", "srv-6", "Server", "IT", "Linux"),
                  asset("02:aa:00:00:00:03", "10.1.0.7", "02:aa:00:00:00:03", "", "", ""),
                  asset("10.1.0.8", "10.1.0.8", "", "laptop-8", "Laptop", "IT", "Windows")]
        st, _, body = post(p, "/sensor/v1/reports", "Report",
                           {"protocolVersion": 1, "reportId": 1, "full": True, "assets": assets,
                            "flows": [flow(i) for i in range(5)]}, a)
        t.check(st == 200, "report: %d %r" % (st, body))
        inv, pages = paged(p, tok, "ocsf/inventory", 3)
        t.check(len(inv) == 4 and pages == 2, "OCSF lines %d over %d pages" % (len(inv), pages))
        for e in inv:
            missing = [k for k in OCSF_REQUIRED if k not in e]
            t.check(not missing, "OCSF required attributes missing: %r in %r" % (missing, e))
            t.check(e["class_uid"] == 5001 and e["category_uid"] == 5 and e["activity_id"] in (1, 2)
                    and e["type_uid"] == e["class_uid"] * 100 + e["activity_id"], "classification: %r" % e)
            t.check(isinstance(e["time"], int) and isinstance(e["severity_id"], int), "time/severity: %r" % e)
            md = e["metadata"]
            t.check("version" in md and "product" in md and md["product"].get("vendor_name"), "metadata: %r" % md)
            d = e["device"]
            t.check(d.get("type_id") in OCSF_DEVICE_TYPE_IDS, "device.type_id: %r" % d)
            t.check(any(d.get(k) for k in ("ip", "uid", "name", "hostname")), "an identifiable device: %r" % d)
        by_mac = {e["device"].get("mac"): e["device"] for e in inv}
        t.check(by_mac["02:aa:00:00:00:01"]["type_id"] == 7 and by_mac["02:aa:00:00:00:02"]["type_id"] == 1
                and by_mac["02:aa:00:00:00:02"]["os"]["name"] == "Linux" and by_mac["02:aa:00:00:00:03"]["type_id"] == 0
                and by_mac[None]["type_id"] == 3 and by_mac[None]["ip"] == "10.1.0.8",
                "devices as reported: %r" % by_mac)
        _, _, api_assets = p.api("GET", "/api/v1/assets", token=tok)
        t.check(sorted(x["ip"] for x in api_assets["items"]) == sorted(e["device"]["ip"] for e in inv),
                "the export is the inventory")
        flows, pages = paged(p, tok, "ecs/flows", 2)
        t.check(len(flows) == 5 and pages == 3, "ECS flows %d over %d pages" % (len(flows), pages))
        for i, d in enumerate(sorted(flows, key=lambda d: d["source"]["ip"])):
            f = flow(i)
            t.check(d["ecs"]["version"] == "8.11.0" and d["event"]["kind"] == "event"
                    and d["event"]["category"] == ["network"] and d["event"]["type"] == ["connection"]
                    and d["event"]["dataset"] == "tapsense.flow" and d["@timestamp"].endswith("Z"), "event: %r" % d)
            t.check(d["source"]["ip"] == f["client"] and d["destination"]["ip"] == "10.1.0.5"
                    and d["destination"]["port"] == 502 and d["source"]["bytes"] == f["bytesClientToServer"]
                    and d["destination"]["bytes"] == f["bytesServerToClient"], "sides: %r" % d)
            t.check(d["network"] == {"transport": "tcp", "application": "modbus", "name": "plant",
                                     "bytes": f["bytesClientToServer"] + f["bytesServerToClient"],
                                     "packets": f["packets"]}, "network: %r" % d["network"])
            t.check(d["observer"] == {"name": "plant", "type": "sensor", "product": "tapsense"}, "observer: %r" % d)
        st, _, _ = p.request("GET", "/api/v1/export/ocsf/inventory", None, {"Authorization": "Bearer " + vtok})
        t.check(st == 200, "a viewer exports: %d" % st)
        st, _, _ = p.request("GET", "/api/v1/export/ocsf/inventory", None, {})
        t.check(st == 401, "an anonymous export: %d" % st)
        _, _, doc = p.api("GET", "/api/v1/openapi.json", token=vtok)
        for path, methods in {"/api/v1/subscriptions": {"get", "put"}, "/api/v1/export/ocsf/inventory": {"get"},
                              "/api/v1/export/ecs/flows": {"get"}}.items():
            t.check(methods <= set(doc["paths"].get(path, {})), "openapi lacks %s %s" % (path, methods))
        print("exports: all checks passed")
    finally:
        p.stop()


def retry_after(work):
    p, tok, _, _ = start_platform(work, extra=["--threads", "1", "--max-reports", "1"])
    try:
        s = new_sensor(p, tok, "busy")
        a = register(p, s["personalization_code"], "uid-busy")
        many = [asset("02:bb:00:00:%02x:%02x" % (i // 256, i % 256), "10.2.%d.%d" % (i // 250, i % 250 + 1),
                      "02:bb:00:00:%02x:%02x" % (i // 256, i % 256), "d%d" % i) for i in range(1500)]
        bodies = [encode("Report", {"protocolVersion": 1, "reportId": rid, "full": rid == 1, "assets": many})
                  for rid in (1, 2, 3, 4, 5, 6)]
        results = {}

        def send(i):
            results[i] = post(p, "/sensor/v1/reports", None, None, a, raw=bodies[i])

        threads = [threading.Thread(target=send, args=(i,)) for i in range(len(bodies))]
        for th in threads:
            th.start()
        for th in threads:
            th.join()
        busy = [i for i, r in results.items() if r[0] == 503]
        t.check(busy, "no 503 with %d concurrent reports and one allowed: %r" %
                (len(bodies), [r[0] for r in results.values()]))
        for i in busy:
            st, h, body = results[i]
            t.check(h.get("Retry-After", "").isdigit() and 2 <= int(h["Retry-After"]) <= 60
                    and body.count(b"\n") == 1, "503 without a usable Retry-After: %r %r" % (h, body))
        t.check(all(r[0] in (200, 503) for r in results.values()), "statuses: %r" % [r[:3:2] for r in results.values()])
        for i in busy:  # the sensor sends again later: accepted, stored once
            st, _, body = post(p, "/sensor/v1/reports", None, None, a, raw=bodies[i])
            t.check(st == 200, "the retried report: %d %r" % (st, body[:100]))
        _, _, one = p.api("GET", "/api/v1/sensors/%d" % s["id"], token=tok)
        t.check(one["last_report_id"] == 6, "every report delivered: %r" % one["last_report_id"])
        print("retry-after: %d of %d concurrent reports got 503; all checks passed" % (len(busy), len(bodies)))
    finally:
        p.stop()


def run():
    if not os.path.exists(pt.PLATFORM):
        t.skip("build/bin/tapsense-platform not built")
    t.need("capnp")
    for part in (subscriptions, exports, retry_after, email):
        work = t.tmpdir("tps-fleet-")
        try:
            part(work)
        finally:
            shutil.rmtree(work, ignore_errors=True)


t.main(run)
