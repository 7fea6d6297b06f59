#pragma once
// The ZeroMQ control channel. The supervisor binds a ROUTER socket under the
// run directory; each stage connects a DEALER whose routing id is its stage
// identity ("aggregator.0"), says hello, sends heartbeats with its counters,
// and takes commands. A restarted stage reconnects with the same identity and
// takes over the old routing entry (ZMQ_ROUTER_HANDOVER).
//
// One thread owns each socket. Messages are Cap'n Proto ControlMessage, one
// ZeroMQ frame each. High-water marks are explicit and small: control traffic
// is a few messages per second.
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <capnp/message.h>
#include <capnp/serialize.h>
#include <kj/array.h>

#include "common/schema/control.capnp.h"

namespace zmq {
class context_t;
class socket_t;
}  // namespace zmq

namespace tapsense::control {

using counter_list = std::vector<std::pair<std::string, std::uint64_t>>;

// A received message; owns its aligned copy of the bytes.
struct message {
  std::string identity;  // sender (ROUTER side only)
  kj::Array<capnp::word> words;
  std::unique_ptr<capnp::FlatArrayMessageReader> reader;
  schema::ControlMessage::Reader get() const { return reader->getRoot<schema::ControlMessage>(); }
};

// Stage side (DEALER).
class stage_channel {
 public:
  stage_channel(const std::string& endpoint, const std::string& identity);
  ~stage_channel();
  stage_channel(const stage_channel&) = delete;
  stage_channel& operator=(const stage_channel&) = delete;

  void hello(const std::string& version);
  void heartbeat(const counter_list& counters, std::uint64_t progress_done = 0,
                 std::uint64_t progress_total = 0);
  void done(const std::string& what, const std::string& detail = "");
  void fatal(int exit_code, const std::string& message);
  // Returns a command if one is waiting (waits up to timeout_ms).
  std::optional<schema::CommandKind> poll_command(int timeout_ms = 0);
  const std::string& identity() const noexcept { return identity_; }

 private:
  void send(capnp::MessageBuilder& b);
  std::unique_ptr<zmq::context_t> ctx_;
  std::unique_ptr<zmq::socket_t> sock_;
  std::string identity_;
};

// Supervisor side (ROUTER).
class supervisor_channel {
 public:
  explicit supervisor_channel(const std::string& endpoint);
  ~supervisor_channel();
  supervisor_channel(const supervisor_channel&) = delete;
  supervisor_channel& operator=(const supervisor_channel&) = delete;

  // Waits up to timeout_ms for one message.
  std::optional<message> receive(int timeout_ms);
  void command(const std::string& identity, schema::CommandKind kind);
  void send(const std::string& identity, capnp::MessageBuilder& b);

 private:
  std::unique_ptr<zmq::context_t> ctx_;
  std::unique_ptr<zmq::socket_t> sock_;
};

// A one-shot client for `tapsense-supervisor --stats`.
std::optional<message> request_stats(const std::string& endpoint, int timeout_ms);

// Parses one ZeroMQ frame into a message (copying into aligned words).
// Returns nullopt if the bytes are not a valid Cap'n Proto message.
std::optional<message> decode(const void* data, std::size_t size, std::string identity = {});

}  // namespace tapsense::control
