@0xc1a7d3e5f2b49a61;
# Sensor <-> platform protocol (ARCHITECTURE.md section 7).
#
# Transport: HTTPS only, one outbound connection from the sensor; the sensor
# pins the platform's CA (the file `tapsense-platform serve` writes as
# DIR/ca.pem). Every body is one Cap'n Proto message in packed encoding,
# `Content-Type: application/x-capnp-packed`. Endpoints:
#
#   POST /sensor/v1/register  RegisterRequest -> RegisterResponse (no credential)
#   POST /sensor/v1/checkin   CheckIn         -> CheckInResponse
#   POST /sensor/v1/reports   Report          -> ReportAck
#
# After registration the sensor authenticates every call with
#   Authorization: Sensor <sensorId>:<sensorKey>
# (the platform keeps only a hash of the key).
#
# Errors are an HTTP status with a one-line text/plain body the sensor shows:
#   400 malformed message          401 unknown sensor or wrong key
#   404 personalization code unknown
#   409 code already used by another sensor   410 code expired
#   403 sensor deregistered (it must register again; it stops sensing)
#   413 report too large (send fewer assets/flows per report)
#   503 busy, with Retry-After seconds (the sensor backs off with jitter)
#
# Evolve it the Cap'n Proto way: new fields at new ordinals only.

using Cxx = import "/capnp/c++.capnp";
$Cxx.namespace("tapsense::schema::platform");

const protocolVersion :UInt16 = 1;

enum SensorStatus {
  unregistered @0;   # created on the platform, code not yet used
  registered @1;     # code used, not sensing yet
  sensing @2;
  paused @3;         # registered, not sensing (a user starts it again)
  notConnected @4;   # derived by the platform: no check-in within its window
  deregistered @5;   # must register again with a new code
}

struct RegisterRequest {
  protocolVersion @0 :UInt16;
  code @1 :Text;              # the 14-digit personalization code
  sensorUid @2 :Text;         # generated once by the sensor and kept in its state_dir:
                              # a retried registration with the same code and uid
                              # returns the same sensor (never two)
  version @3 :Text;           # tapsense version
  hostname @4 :Text;
  addresses @5 :List(Text);   # management addresses
  macs @6 :List(Text);
}

struct RegisterResponse {
  sensorId @0 :Text;
  sensorKey @1 :Text;         # secret credential for Authorization (a retry issues a new
                              # one and the previous one stops working)
  status @2 :SensorStatus;
  name @3 :Text;              # the name the user gave the sensor on the platform
  location @4 :Text;
}

struct Interface {
  name @0 :Text;
  up @1 :Bool;
  linkMbps @2 :UInt32;        # 0 unknown
  mode @3 :Text;              # "default" or "erspan"
  erspanAddress @4 :Text;
  mac @5 :Text;
  packets @6 :UInt64;
  drops @7 :UInt64;
}

struct Health {
  cpuPercent @0 :Float32;             # of the cores given to the sensor
  ramUsedBytes @1 :UInt64;
  ramTotalBytes @2 :UInt64;
  diskUsedBytes @3 :UInt64;           # of the state_dir file system
  diskTotalBytes @4 :UInt64;
  networkBitsPerSecond @5 :UInt64;    # sniffed, over the last check-in interval
  linkCapacityBitsPerSecond @6 :UInt64;
  activeAssets1h @7 :UInt32;
  estimatedMaxThroughputBps @8 :UInt64;
  packets @9 :UInt64;                 # since start of this run
  drops @10 :UInt64;
  uptimeSeconds @11 :UInt64;
}

struct Event {
  id @0 :UInt64;              # per-sensor sequence: a repeat is stored once
  name @1 :Text;              # e.g. "Driver Change Required", "Stage Crash Loop"
  module @2 :Text;            # e.g. "capture", "supervisor"
  type @3 :Text;              # "info", "warning" or "error"
  firstSeen @4 :UInt64;       # ns since the epoch (wall time)
  lastSeen @5 :UInt64;
  count @6 :UInt32;
  message @7 :Text;
}

struct CheckIn {
  protocolVersion @0 :UInt16;
  state @1 :SensorStatus;     # what the sensor is doing: sensing or paused
  version @2 :Text;
  hostname @3 :Text;
  addresses @4 :List(Text);
  macs @5 :List(Text);
  configRevision @6 :UInt64;  # the platform revision it runs (0: none yet)
  configError @7 :Text;       # non-empty: applying revision `failedRevision` failed, why
  failedRevision @8 :UInt64;
  lastCommandId @9 :UInt64;   # highest command id executed (acknowledges it and all before)
  health @10 :Health;
  interfaces @11 :List(Interface);
  events @12 :List(Event);
  lastReportId @13 :UInt64;   # highest report id it has made (acknowledged or not)
}

struct Command {
  id @0 :UInt64;              # per-sensor sequence from 1
  command @1 :Text;           # start_sensing, pause, reboot, deregister, delete_assets
}

struct CheckInResponse {
  status @0 :SensorStatus;    # the platform's view after this check-in
  configRevision @1 :UInt64;  # latest revision for this sensor
  configHash @2 :Text;        # SHA-256 (hex) of `config`
  config @3 :Text;            # set only when configRevision differs from the one the sensor
                              # runs: a TOML fragment with the sensor configuration's own
                              # sections ([[internal]], [[excluded]], [[monitored]],
                              # [[network]], and [[capture.interface]] name/mode/erspan_address);
                              # it replaces those sections of the local file
  commands @4 :List(Command); # ids above the sensor's lastCommandId, in order
  pollSeconds @5 :UInt32;     # next check-in in about this many seconds (add jitter)
}

struct Evidence {
  source @0 :Text;
  field @1 :Text;
  value @2 :Text;
  confidence @3 :UInt8;
  firstSeen @4 :UInt64;       # ns, packet time
  lastSeen @5 :UInt64;
}

struct Service {
  protocol @0 :UInt8;
  port @1 :UInt16;
  service @2 :Text;
}

struct FieldConfidence {
  field @0 :Text;
  confidence @1 :UInt8;
}

# One asset as the sensor's assets.json shows it (README "assets.json").
struct Asset {
  key @0 :Text;               # the sensor's stable key for the device (MAC, else network+IP)
  ip @1 :Text;                # empty: unknown
  mac @2 :Text;
  hostname @3 :Text;
  vendor @4 :Text;
  os @5 :Text;
  osFamily @6 :Text;
  osVersion @7 :Text;
  deviceType @8 :Text;
  model @9 :Text;
  firmware @10 :Text;
  network @11 :Text;          # empty: the default network
  firstSeen @12 :UInt64;      # ns, packet time
  lastSeen @13 :UInt64;
  bytesIn @14 :UInt64;        # totals since the sensor first saw it
  bytesOut @15 :UInt64;
  packetsIn @16 :UInt64;
  packetsOut @17 :UInt64;
  nat @18 :Bool;
  ips @19 :List(Text);
  services @20 :List(Service);
  evidence @21 :List(Evidence);
  confidence @22 :List(FieldConfidence);
  deviceClass @23 :Text;      # IT, IoT, OT, network, mobile (empty: unknown)
}

# One flows.json record (README "flows.json").
struct FlowRecord {
  intervalStart @0 :UInt64;   # ns
  intervalEnd @1 :UInt64;
  client @2 :Text;            # IP text; "External" / "Excluded" for those sides
  server @3 :Text;
  clientClass @4 :Text;       # as flows.json src_class / dst_class
  serverClass @5 :Text;
  clientName @6 :Text;        # monitored external name
  serverName @7 :Text;
  clientMac @8 :Text;         # unassigned client's MAC
  protocol @9 :UInt8;
  serverPort @10 :UInt16;
  packets @11 :UInt64;
  packetsClientToServer @12 :UInt64;
  bytesClientToServer @13 :UInt64;
  bytesServerToClient @14 :UInt64;
  firstSeen @15 :UInt64;
  lastSeen @16 :UInt64;
  network @17 :Text;
  appFamily @18 :Text;
  appService @19 :Text;
  application @20 :Text;
}

struct Report {
  protocolVersion @0 :UInt16;
  reportId @1 :UInt64;        # per-sensor sequence from 1; a report the platform already
                              # has is acknowledged again and never stored twice
  full @2 :Bool;              # the sensor's whole inventory: assets not in it are gone
  assets @3 :List(Asset);     # new or changed since the previous report (complete records)
  removedAssets @4 :List(Text);  # keys the sensor no longer holds (DHCP churn, delete_assets)
  flows @5 :List(FlowRecord); # flow records of closed intervals not sent before
  generatedAt @6 :UInt64;     # ns, wall time
}

struct ReportAck {
  reportId @0 :UInt64;
  duplicate @1 :Bool;         # already stored before: nothing changed
  needFull @2 :Bool;          # the platform lost track (a gap): send a full report next
}
