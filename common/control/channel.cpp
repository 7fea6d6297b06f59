#include "common/control/channel.h"

#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <zmq.hpp>

namespace tapsense::control {

namespace {
constexpr int hwm = 1000;

std::string to_bytes(capnp::MessageBuilder& b) {
  auto words = capnp::messageToFlatArray(b);
  auto bytes = words.asBytes();
  return std::string(reinterpret_cast<const char*>(bytes.begin()), bytes.size());
}
}  // namespace

std::optional<message> decode(const void* data, std::size_t size, std::string identity) {
  if (size == 0 || size % sizeof(capnp::word) != 0) {
    return std::nullopt;
  }
  message m;
  m.identity = std::move(identity);
  // ZeroMQ gives no alignment guarantee; Cap'n Proto readers need 8 bytes.
  m.words = kj::heapArray<capnp::word>(size / sizeof(capnp::word));
  std::memcpy(m.words.begin(), data, size);
  try {
    m.reader = std::make_unique<capnp::FlatArrayMessageReader>(m.words.asPtr());
    (void)m.get().which();
  } catch (const kj::Exception&) {
    return std::nullopt;
  }
  return m;
}

stage_channel::stage_channel(const std::string& endpoint, const std::string& identity)
    : ctx_(std::make_unique<zmq::context_t>(1)),
      sock_(std::make_unique<zmq::socket_t>(*ctx_, zmq::socket_type::dealer)),
      identity_(identity) {
  sock_->set(zmq::sockopt::routing_id, identity);
  sock_->set(zmq::sockopt::sndhwm, hwm);
  sock_->set(zmq::sockopt::rcvhwm, hwm);
  // Give queued messages (done, fatal) a moment to leave at exit, then drop.
  sock_->set(zmq::sockopt::linger, 2000);
  sock_->connect(endpoint);
}

stage_channel::~stage_channel() = default;

void stage_channel::send(capnp::MessageBuilder& b) {
  const auto bytes = to_bytes(b);
  // Never block a stage on control traffic: if the supervisor is gone or slow,
  // the message is dropped (the high-water mark bounds the queue).
  (void)sock_->send(zmq::buffer(bytes), zmq::send_flags::dontwait);
}

void stage_channel::hello(const std::string& version) {
  capnp::MallocMessageBuilder b;
  auto h = b.initRoot<schema::ControlMessage>().initHello();
  h.setStage(identity_);
  h.setPid(static_cast<std::uint32_t>(::getpid()));
  h.setVersion(version);
  send(b);
}

void stage_channel::heartbeat(const counter_list& counters, std::uint64_t done,
                              std::uint64_t total) {
  capnp::MallocMessageBuilder b;
  auto h = b.initRoot<schema::ControlMessage>().initHeartbeat();
  auto list = h.initCounters(static_cast<unsigned>(counters.size()));
  for (unsigned i = 0; i < counters.size(); ++i) {
    list[i].setName(counters[i].first);
    list[i].setValue(counters[i].second);
  }
  h.setProgressDone(done);
  h.setProgressTotal(total);
  send(b);
}

void stage_channel::done(const std::string& what, const std::string& detail) {
  capnp::MallocMessageBuilder b;
  auto d = b.initRoot<schema::ControlMessage>().initDone();
  d.setWhat(what);
  d.setDetail(detail);
  send(b);
}

void stage_channel::fatal(int exit_code, const std::string& msg) {
  capnp::MallocMessageBuilder b;
  auto f = b.initRoot<schema::ControlMessage>().initFatal();
  f.setExitCode(exit_code);
  f.setMessage(msg);
  send(b);
}

namespace {
// zmq::poll, with a signal arriving during the wait reported as "nothing".
bool poll_in(zmq::socket_t& s, int timeout_ms) {
  zmq::pollitem_t item{s.handle(), 0, ZMQ_POLLIN, 0};
  try {
    return zmq::poll(&item, 1, std::chrono::milliseconds(timeout_ms)) > 0;
  } catch (const zmq::error_t& e) {
    if (e.num() == EINTR) {
      return false;
    }
    throw;
  }
}
}  // namespace

std::optional<schema::CommandKind> stage_channel::poll_command(int timeout_ms) {
  if (!poll_in(*sock_, timeout_ms)) {
    return std::nullopt;
  }
  zmq::message_t msg;
  while (sock_->recv(msg, zmq::recv_flags::dontwait)) {
    auto m = decode(msg.data(), msg.size());
    if (m && m->get().isCommand()) {
      return m->get().getCommand().getKind();
    }
  }
  return std::nullopt;
}

supervisor_channel::supervisor_channel(const std::string& endpoint)
    : ctx_(std::make_unique<zmq::context_t>(1)),
      sock_(std::make_unique<zmq::socket_t>(*ctx_, zmq::socket_type::router)) {
  sock_->set(zmq::sockopt::router_handover, 1);
  sock_->set(zmq::sockopt::sndhwm, hwm);
  sock_->set(zmq::sockopt::rcvhwm, hwm);
  sock_->set(zmq::sockopt::linger, 0);
  sock_->bind(endpoint);
}

supervisor_channel::~supervisor_channel() = default;

std::optional<message> supervisor_channel::receive(int timeout_ms) {
  if (!poll_in(*sock_, timeout_ms)) {
    return std::nullopt;
  }
  for (;;) {
    zmq::message_t id;
    zmq::message_t body;
    if (!sock_->recv(id, zmq::recv_flags::dontwait)) {
      return std::nullopt;
    }
    if (!id.more() || !sock_->recv(body, zmq::recv_flags::dontwait)) {
      continue;
    }
    while (body.more()) {  // ignore unexpected extra frames
      zmq::message_t extra;
      if (!sock_->recv(extra, zmq::recv_flags::dontwait)) break;
      body.swap(extra);
    }
    if (auto m = decode(body.data(), body.size(), id.to_string())) {
      return m;
    }
  }
}

void supervisor_channel::send(const std::string& identity, capnp::MessageBuilder& b) {
  const auto bytes = to_bytes(b);
  (void)sock_->send(zmq::buffer(identity), zmq::send_flags::sndmore | zmq::send_flags::dontwait);
  (void)sock_->send(zmq::buffer(bytes), zmq::send_flags::dontwait);
}

void supervisor_channel::command(const std::string& identity, schema::CommandKind kind) {
  capnp::MallocMessageBuilder b;
  b.initRoot<schema::ControlMessage>().initCommand().setKind(kind);
  send(identity, b);
}

std::optional<message> request_stats(const std::string& endpoint, int timeout_ms) {
  zmq::context_t ctx(1);
  zmq::socket_t s(ctx, zmq::socket_type::dealer);
  s.set(zmq::sockopt::routing_id, "cli." + std::to_string(::getpid()));
  s.set(zmq::sockopt::linger, 0);
  s.connect(endpoint);
  capnp::MallocMessageBuilder b;
  b.initRoot<schema::ControlMessage>().initStatsRequest();
  const auto bytes = to_bytes(b);
  (void)s.send(zmq::buffer(bytes), zmq::send_flags::none);
  if (!poll_in(s, timeout_ms)) {
    return std::nullopt;
  }
  zmq::message_t msg;
  if (!s.recv(msg, zmq::recv_flags::dontwait)) {
    return std::nullopt;
  }
  return decode(msg.data(), msg.size());
}

}  // namespace tapsense::control
