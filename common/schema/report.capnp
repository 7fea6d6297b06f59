@0x9d8786a7ea252d05;
# Report path: aggregator and fingerprinter batches to the uplink.
# This is the contract between stages. Evolve it the Cap'n Proto way: only add
# fields at new ordinals, never renumber or retype; bump `schemaVersion` when a
# reader must know.
#
# Conventions: times are nanoseconds since the Unix epoch in packet time; IP
# addresses are 16-byte Data (IPv4 mapped as ::ffff:a.b.c.d); MACs are UInt64
# (0 = unknown). Every batch carries the producer's identity and a batch id
# that is unique for that producer within a run: a batch replayed after a
# producer restart carries the same id and the uplink applies it once.

using Cxx = import "/capnp/c++.capnp";
$Cxx.namespace("tapsense::schema");

const schemaVersion :UInt16 = 2;
# 2: an Observation names its source and field by index in the facts'
#    vocabulary (sourceId, fieldId; common/proto/names.h), its batch carries
#    the vocabulary's hash and the bindings the facts state.

enum AddressClass {
  inventoried @0;
  nonInventoried @1;
  external @2;          # attributed to the single asset "External"
  monitoredExternal @3;
  excluded @4;
  unassigned @5;        # 0.0.0.0 / :: (a host without an address yet); keeps its address
  broadcast @6;         # 255.255.255.255 or a subnet-directed broadcast; keeps its address
  multicast @7;         # 224.0.0.0/4, ff00::/8; keeps its address
}

struct Flow {
  intervalStart @0 :UInt64;   # start of the reporting interval
  client @1 :Data;            # empty when the side is External or Excluded
  server @2 :Data;
  clientClass @3 :AddressClass;
  serverClass @4 :AddressClass;
  serverPort @5 :UInt16;      # 0 for protocols without ports
  protocol @6 :UInt8;         # IP protocol number
  packets @7 :UInt64;         # both directions
  bytesClientToServer @8 :UInt64;  # original frame lengths
  bytesServerToClient @9 :UInt64;
  firstSeen @10 :UInt64;
  lastSeen @11 :UInt64;
  packetsClientToServer @12 :UInt64;
  clientName @13 :Text;       # monitored external: configured name
  serverName @14 :Text;
  network @15 :Text;          # named network (address space); empty = default
  appFamily @16 :Text;        # e.g. "Web Services"
  appService @17 :Text;       # e.g. "HTTPS"
  intervalEnd @18 :UInt64;    # end of the reporting interval
  application @19 :Text;      # nDPI application when more specific than the service
  clientMac @20 :UInt64;      # unassigned client (0.0.0.0, ::): the MAC it sent from (0 = none)
}

struct FlowBatch {
  schemaVersion @0 :UInt16;
  producer @1 :Text;
  batchId @2 :UInt64;
  flows @3 :List(Flow);
}

enum BindingSource {
  ipSource @0;   # the MAC was the source of a packet from this IP
  arp @1;        # ARP sender hardware/protocol address
  dhcp @2;       # DHCP lease (yiaddr/ciaddr/requested address)
  ndp @3;        # IPv6 neighbour discovery
  dhcpRequested @4;  # the address a DHCP client asks for (option 50)
  announced @5;  # an address a device announces as its own (LLDP/CDP management
                 # address, PROFINET, EtherNet/IP, mDNS A/AAAA of a local sender)
}

# One inventoried IP (with one MAC) as one shard saw it since its last report (deltas).
struct Sighting {
  ip @0 :Data;
  firstSeen @1 :UInt64;
  lastSeen @2 :UInt64;
  bytesIn @3 :UInt64;       # towards the IP
  bytesOut @4 :UInt64;      # from the IP
  packetsIn @5 :UInt64;
  packetsOut @6 :UInt64;
  network @7 :Text;
  ttlOut @8 :UInt8;         # IP TTL of the last packet sent by the IP
  ttls @9 :List(UInt8);     # distinct TTLs seen from the IP (several: NAT hint)
  isNew @10 :Bool;          # first report of this IP by this producer
  mac @11 :UInt64;          # the MAC its packets carried (its own, or a router's);
                            # one sighting per (IP, MAC), so a DHCP address's
                            # holders keep their own traffic (0: none, raw IP)
}

struct MacBinding {
  ip @0 :Data;
  mac @1 :UInt64;
  source @2 :BindingSource;
  firstSeen @3 :UInt64;
  lastSeen @4 :UInt64;
  packets @5 :UInt64;
  network @6 :Text;
}

struct SightingBatch {
  schemaVersion @0 :UInt16;
  producer @1 :Text;
  batchId @2 :UInt64;
  sightings @3 :List(Sighting);
  bindings @4 :List(MacBinding);
  # MACs seen forwarding packets from addresses outside the inventory: routers.
  # Their IP source bindings do not identify a device.
  gatewayMacs @5 :List(UInt64);
}

# One fact about a device, with where it came from.
struct Observation {
  mac @0 :UInt64;          # subject MAC (0 when the subject is an IP)
  ip @1 :Data;             # subject IP (empty when the subject is a MAC)
  ts @2 :UInt64;
  obsoleteSource @3 :Text; # schema 1 ("oui", "dhcp", ...): no longer written
  obsoleteField @4 :Text;  # schema 1 ("vendor", "hostname", ...): no longer written
  value @5 :Text;
  confidence @6 :UInt8;    # 0..100
  network @7 :Text;        # named network of the packet it came from; empty = default
  sourceId @8 :UInt16;     # index in common/proto/names.h source_names ("oui", "dhcp", "p0f", ...)
  fieldId @9 :UInt16;      # index in field_names ("vendor", "hostname", "os", ...)
  rule @10 :Text;          # the rule's id when the source is "rule" (a derived fact)
}

struct ObservationBatch {
  schemaVersion @0 :UInt16;
  producer @1 :Text;
  batchId @2 :UInt64;
  observations @3 :List(Observation);
  vocabulary @4 :UInt64;   # proto::vocabulary_hash of the writer: a reader with
                           # other tables refuses the batch
  bindings @5 :List(MacBinding);  # addresses the facts bind to MACs (DHCP,
                                  # announcements): typed, never parsed from a value
}
