@0xbb60e5d004703d9e;
# Control channel: supervisor (ZeroMQ ROUTER) <-> stages (DEALER).
# Data never travels here; only lifecycle, commands and counters.

using Cxx = import "/capnp/c++.capnp";
$Cxx.namespace("tapsense::schema");

struct Counter {
  name @0 :Text;     # dotted: "rx.packets", "ring.cap-agg.0.drops", "anomaly.truncated_tcp"
  value @1 :UInt64;
}

struct Hello {
  stage @0 :Text;    # "capture", "aggregator.0", ...
  pid @1 :UInt32;
  version @2 :Text;
}

struct Heartbeat {
  counters @0 :List(Counter);
  progressDone @1 :UInt64;   # capture: packets read from files so far
  progressTotal @2 :UInt64;  # capture: packets in the files (0 = live)
}

enum CommandKind {
  stop @0;          # flush what you hold and exit 0
  flush @1;
  pause @2;
  resume @3;
  reloadConfig @4;
}

struct Command {
  kind @0 :CommandKind;
}

struct Done {
  # Sent by the uplink once every report is committed and the outputs written;
  # by capture once end-of-input is in every ring.
  what @0 :Text;
  detail @1 :Text;
}

struct Fatal {
  # A stage that cannot go on says why before it exits; the supervisor prints
  # it and does not restart a stage whose problem a restart cannot fix.
  exitCode @0 :Int32;
  message @1 :Text;
}

struct StatsRequest {}

struct StatsReply {
  stages @0 :List(StageStats);
}

struct StageStats {
  stage @0 :Text;
  pid @1 :UInt32;
  restarts @2 :UInt32;
  counters @3 :List(Counter);
}

struct ControlMessage {
  union {
    hello @0 :Hello;
    heartbeat @1 :Heartbeat;
    command @2 :Command;
    done @3 :Done;
    fatal @4 :Fatal;
    statsRequest @5 :StatsRequest;
    statsReply @6 :StatsReply;
  }
}
