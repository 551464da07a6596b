#include "ipc/framing.hpp"

#include <doctest/doctest.h>
#include <pthread.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <string>
#include <thread>
#include <vector>

using namespace overlayd;
using namespace overlayd::ipc;

namespace {

std::string header(uint32_t len) {
  std::string h(4, '\0');
  for (int i = 0; i < 4; ++i) h[i] = static_cast<char>((len >> (8 * i)) & 0xff);
  return h;
}

std::string framed(std::string_view payload) { return header(uint32_t(payload.size())) + std::string(payload); }

// A connected AF_UNIX stream pair, closed on scope exit.
struct socket_pair {
  int fd[2] = {-1, -1};
  socket_pair() { REQUIRE(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fd) == 0); }
  ~socket_pair() {
    close_end(0);
    close_end(1);
  }
  void close_end(int i) {
    if (fd[i] >= 0) ::close(fd[i]);
    fd[i] = -1;
  }
  void send_raw(std::string_view bytes) {
    REQUIRE(::write(fd[1], bytes.data(), bytes.size()) == ssize_t(bytes.size()));
  }
};

}  // namespace

TEST_CASE("the length prefix is 4 bytes little-endian") {
  auto b = frame_bytes("{}");
  REQUIRE(b.ok());
  CHECK(*b == std::string("\x02\x00\x00\x00{}", 6));
  std::string p(0x010203, 'x');
  auto big = frame_bytes(p);
  REQUIRE(big.ok());
  CHECK(big->substr(0, 4) == std::string("\x03\x02\x01\x00", 4));
  CHECK(big->size() == 4 + p.size());
  CHECK(frame_bytes("").value() == std::string(4, '\0'));
}

TEST_CASE("the 8 MiB cap is exact on send") {
  CHECK(max_frame_bytes == 8388608);
  std::string at(max_frame_bytes, 'a');
  CHECK(frame_bytes(at).ok());
  std::string over(max_frame_bytes + 1, 'a');
  auto r = frame_bytes(over);
  REQUIRE_FALSE(r.ok());
  CHECK(r.err().code == errc::invalid_argument);
  CHECK(r.err().message == "frame of 8388609 bytes exceeds the limit of 8388608 bytes");
}

TEST_CASE("the decoder yields a frame only once all its bytes are in") {
  frame_decoder d;
  CHECK(d.at_boundary());
  std::string f = framed(R"({"op":"status"})");
  for (size_t i = 0; i + 1 < f.size(); ++i) {
    REQUIRE(d.feed(f.substr(i, 1)).ok());
    CHECK_FALSE(d.pop().has_value());
    CHECK_FALSE(d.at_boundary());
    CHECK(d.partial_bytes() == i + 1);
  }
  REQUIRE(d.feed(f.substr(f.size() - 1)).ok());
  CHECK(d.at_boundary());
  CHECK(d.pop() == std::optional<std::string>(R"({"op":"status"})"));
  CHECK_FALSE(d.pop().has_value());
}

TEST_CASE("the decoder splits frames however the bytes are chunked") {
  std::vector<std::string> payloads = {"a", "", std::string(1000, 'b'), "{\"x\":1}", std::string(70000, 'c')};
  std::string stream;
  for (auto& p : payloads) stream += framed(p);
  for (size_t chunk : {size_t(1), size_t(3), size_t(4), size_t(5), size_t(4096), stream.size()}) {
    CAPTURE(chunk);
    frame_decoder d;
    std::vector<std::string> out;
    bool all_fed = true;
    for (size_t i = 0; i < stream.size(); i += chunk) {
      all_fed = all_fed && d.feed(std::string_view(stream).substr(i, chunk)).ok();
      while (auto p = d.pop()) out.push_back(*p);
    }
    CHECK(all_fed);
    CHECK(out == payloads);
    CHECK(d.at_boundary());
  }
}

TEST_CASE("two frames in one feed come out in order") {
  frame_decoder d;
  REQUIRE(d.feed(framed("one") + framed("two") + std::string("\x03\x00", 2)).ok());
  CHECK(d.ready() == 2);
  CHECK(d.pop() == std::optional<std::string>("one"));
  CHECK(d.pop() == std::optional<std::string>("two"));
  CHECK_FALSE(d.pop().has_value());
  CHECK_FALSE(d.at_boundary());  // half a header of the third
  REQUIRE(d.feed(std::string("\x00\x00xyz", 5)).ok());
  CHECK(d.pop() == std::optional<std::string>("xyz"));
  CHECK(d.at_boundary());
}

TEST_CASE("a frame of exactly the cap is accepted and one byte more fails the stream") {
  frame_decoder d;
  std::string at(max_frame_bytes, 'a');
  REQUIRE(d.feed(framed(at)).ok());
  auto p = d.pop();
  REQUIRE(p.has_value());
  CHECK(p->size() == max_frame_bytes);

  // The header alone is enough to refuse: nothing of the body is buffered.
  auto r = d.feed(header(uint32_t(max_frame_bytes + 1)));
  REQUIRE_FALSE(r.ok());
  CHECK(r.err().code == errc::protocol);
  CHECK(r.err().message == "frame of 8388609 bytes exceeds the limit of 8388608 bytes");
  CHECK(d.failed());
  CHECK_FALSE(d.feed(framed("late")).ok());  // stays failed: the connection must close
  CHECK_FALSE(d.pop().has_value());
}

TEST_CASE("an oversize header behind a good frame still yields the good frame") {
  frame_decoder d(16);
  auto r = d.feed(framed("ok") + header(17));
  CHECK_FALSE(r.ok());
  CHECK(d.pop() == std::optional<std::string>("ok"));
  frame_decoder huge;
  CHECK_FALSE(huge.feed("\xff\xff\xff\xff").ok());
}

TEST_CASE("read_frame and write_frame round-trip over a socket, a full-size frame included") {
  socket_pair sp;
  std::string big(max_frame_bytes, 'z');
  big.front() = '{';
  std::thread writer([&] {
    // The socket buffer is far below 8 MiB: this exercises short writes.
    CHECK(write_frame(sp.fd[1], "hello").ok());
    CHECK(write_frame(sp.fd[1], big).ok());
    CHECK(write_frame(sp.fd[1], "").ok());
    sp.close_end(1);
  });
  auto a = read_frame(sp.fd[0]);
  auto b = read_frame(sp.fd[0]);
  auto c = read_frame(sp.fd[0]);
  auto eof = read_frame(sp.fd[0]);
  writer.join();
  REQUIRE(a.ok());
  REQUIRE(b.ok());
  REQUIRE(c.ok());
  REQUIRE(eof.ok());
  CHECK(*a == std::optional<std::string>("hello"));
  CHECK(b->value() == big);
  CHECK(*c == std::optional<std::string>(""));
  CHECK_FALSE(eof->has_value());  // clean close exactly at a boundary
}

TEST_CASE("EOF mid-frame is a protocol error distinct from a clean close") {
  struct row {
    std::string bytes;
    const char* message;
  };
  const std::vector<row> table = {
      {std::string("\x05\x00", 2), "connection closed mid-frame (2 of 4 header bytes)"},
      {std::string("\x05\x00\x00\x00", 4) + "ab", "connection closed mid-frame (2 of 5 payload bytes)"},
      {std::string("\x05\x00\x00\x00", 4), "connection closed mid-frame (0 of 5 payload bytes)"},
  };
  for (const auto& t : table) {
    CAPTURE(t.message);
    socket_pair sp;
    sp.send_raw(t.bytes);
    sp.close_end(1);
    auto r = read_frame(sp.fd[0]);
    REQUIRE_FALSE(r.ok());
    CHECK(r.err().code == errc::protocol);
    CHECK(r.err().message == t.message);
  }
}

TEST_CASE("read_frame refuses an oversize header without reading the body") {
  socket_pair sp;
  sp.send_raw(header(uint32_t(max_frame_bytes + 1)));
  auto r = read_frame(sp.fd[0]);
  REQUIRE_FALSE(r.ok());
  CHECK(r.err().code == errc::protocol);
  CHECK(r.err().message == "frame of 8388609 bytes exceeds the limit of 8388608 bytes");
}

TEST_CASE("write_frame refuses an oversize payload and writes nothing") {
  socket_pair sp;
  std::string over(max_frame_bytes + 1, 'a');
  auto w = write_frame(sp.fd[1], over);
  REQUIRE_FALSE(w.ok());
  CHECK(w.err().code == errc::invalid_argument);
  sp.close_end(1);
  auto r = read_frame(sp.fd[0]);
  REQUIRE(r.ok());
  CHECK_FALSE(r->has_value());
}

TEST_CASE("writing to a closed peer is an error, not SIGPIPE") {
  socket_pair sp;
  sp.close_end(0);
  auto w = write_frame(sp.fd[1], "x");
  REQUIRE_FALSE(w.ok());
  CHECK(w.err().code == errc::system);
  CHECK(w.err().sys_errno == EPIPE);
}

TEST_CASE("write_frame and read_frame work on a pipe too") {
  int p[2];
  REQUIRE(::pipe(p) == 0);
  CHECK(write_frame(p[1], "via pipe").ok());
  ::close(p[1]);
  auto r = read_frame(p[0]);
  ::close(p[0]);
  REQUIRE(r.ok());
  CHECK(*r == std::optional<std::string>("via pipe"));
}

namespace {
void on_usr1(int) {}
}  // namespace

TEST_CASE("read_frame retries when a signal interrupts a blocked read") {
  struct sigaction sa {};
  struct sigaction old {};
  sa.sa_handler = on_usr1;
  sa.sa_flags = 0;  // no SA_RESTART: read() returns EINTR
  sigemptyset(&sa.sa_mask);
  REQUIRE(::sigaction(SIGUSR1, &sa, &old) == 0);

  socket_pair sp;
  std::atomic<bool> done{false};
  result<std::optional<std::string>> got = std::optional<std::string>();
  std::thread reader([&] {
    got = read_frame(sp.fd[0]);
    done = true;
  });
  // Interrupt the reader a few times while it waits, then send in two halves.
  std::string f = framed("after signals");
  for (int i = 0; i < 5; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
    ::pthread_kill(reader.native_handle(), SIGUSR1);
  }
  sp.send_raw(f.substr(0, 6));
  std::this_thread::sleep_for(std::chrono::milliseconds(10));
  ::pthread_kill(reader.native_handle(), SIGUSR1);
  sp.send_raw(f.substr(6));
  reader.join();
  ::sigaction(SIGUSR1, &old, nullptr);
  CHECK(done);
  REQUIRE(got.ok());
  CHECK(*got == std::optional<std::string>("after signals"));
}

TEST_CASE("a half-sent frame times out; an idle connection between frames does not") {
  struct row {
    std::string bytes;
    const char* what;
  };
  const std::vector<row> table = {
      {std::string("\x05\x00", 2), "half a header"},
      {header(8 * 1024 * 1024) + "abc", "8 MiB announced, 3 bytes sent"},
  };
  for (const auto& t : table) {
    CAPTURE(t.what);
    socket_pair sp;
    sp.send_raw(t.bytes);
    const auto start = std::chrono::steady_clock::now();
    auto r = read_frame(sp.fd[0], max_frame_bytes, std::chrono::milliseconds(200));
    REQUIRE_FALSE(r.ok());
    CHECK(r.err().code == errc::timeout);
    CHECK(std::chrono::steady_clock::now() - start < std::chrono::seconds(5));
  }
  // Nothing sent for longer than the timeout, then a whole frame: read.
  socket_pair sp;
  const std::string late_frame = framed("late");
  ssize_t sent = 0;
  std::thread late([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(400));
    sent = ::write(sp.fd[1], late_frame.data(), late_frame.size());
  });
  auto r = read_frame(sp.fd[0], max_frame_bytes, std::chrono::milliseconds(200));
  late.join();
  CHECK(sent == ssize_t(late_frame.size()));
  REQUIRE(r.ok());
  REQUIRE(r->has_value());
  CHECK(**r == "late");
}

TEST_CASE("a frame delivered in small pieces over time is read whole (buffer grows as bytes arrive)") {
  socket_pair sp;
  const std::string payload(3 * frame_read_chunk + 123, 'q');
  const std::string bytes = framed(payload);
  size_t sent = 0;
  std::thread slow([&] {
    while (sent < bytes.size()) {
      const ssize_t w = ::write(sp.fd[1], bytes.data() + sent, std::min<size_t>(50000, bytes.size() - sent));
      if (w <= 0) return;
      sent += size_t(w);
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
  });
  auto r = read_frame(sp.fd[0], max_frame_bytes, std::chrono::seconds(10));
  slow.join();
  CHECK(sent == bytes.size());
  REQUIRE(r.ok());
  REQUIRE(r->has_value());
  CHECK(**r == payload);
}
