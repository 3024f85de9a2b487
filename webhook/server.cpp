#include "webhook/server.h"

#include <malloc.h>
#include <sched.h>
#include <sys/resource.h>

#include <atomic>
#include <csignal>
#include <cstring>
#include <list>
#include <mutex>
#include <thread>
#include <unordered_set>
#include <utility>
#include <vector>

#include <boost/asio.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>

#include "core/duration.h"
#include "core/log.h"
#include "webhook/codec.h"
#include "webhook/memory_budget.h"
#include "webhook/metrics.h"

namespace gitgate::webhook {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;
using Clock = std::chrono::steady_clock;

// A request body kept with the trailing bytes simdjson may read past the end, so decoding needs no copy.
struct PaddedStringBody {
  using value_type = std::string;
  static std::uint64_t size(const value_type& body) { return body.size(); }

  class reader {
   public:
    template <bool isRequest, class Fields>
    reader(http::header<isRequest, Fields>&, value_type& body) : body_(body) {}

    void init(const boost::optional<std::uint64_t>& length, beast::error_code& ec) {
      if (length) body_.reserve(static_cast<size_t>(*length) + simdjson::SIMDJSON_PADDING);
      ec = {};
    }

    template <class ConstBufferSequence>
    std::size_t put(const ConstBufferSequence& buffers, beast::error_code& ec) {
      size_t extra = beast::buffer_bytes(buffers);
      size_t size = body_.size();
      if (body_.capacity() < size + extra + simdjson::SIMDJSON_PADDING)
        body_.reserve(std::max(body_.capacity() * 2, size + extra + simdjson::SIMDJSON_PADDING));
      body_.resize(size + extra);
      ec = {};
      net_copy(buffers, body_.data() + size);
      return extra;
    }

    void finish(beast::error_code& ec) { ec = {}; }

   private:
    template <class ConstBufferSequence>
    static void net_copy(const ConstBufferSequence& buffers, char* dest) {
      for (auto b : beast::buffers_range_ref(buffers)) {
        std::memcpy(dest, b.data(), b.size());
        dest += b.size();
      }
    }
    value_type& body_;
  };
};

using Request = http::request<PaddedStringBody>;
using Response = http::response<http::string_body>;

unsigned default_threads() {
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof set, &set) == 0) return std::max(1, CPU_COUNT(&set));
  return std::max(1u, std::thread::hardware_concurrency());
}

// Lets a connection count exceed the default 1024 descriptors (slowloris defence needs headroom).
void raise_descriptor_limit() {
  rlimit rl{};
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
  }
}

class ServerImpl;
class Session;

void render_budget_metrics(std::string& out, const MemoryBudget::Stats& stats) {
  append_metric(out, "gitgate_request_memory_budget_bytes", "gauge",
                "Memory requests in flight may reserve (--request-memory-budget).",
                std::to_string(stats.capacity));
  append_metric(out, "gitgate_request_memory_in_use_bytes", "gauge",
                "Memory reserved by requests in flight (bodies, parsed documents, diff scratch).",
                std::to_string(stats.in_use));
  append_metric(out, "gitgate_request_memory_peak_bytes", "gauge",
                "The most memory requests in flight have reserved at once since the start.",
                std::to_string(stats.peak));
  append_metric(out, "gitgate_request_memory_waiting", "gauge", "Requests waiting for memory now.",
                std::to_string(stats.waiting));
  append_metric(out, "gitgate_request_memory_waits_total", "counter",
                "Requests that found the memory budget full and waited for room.",
                std::to_string(stats.waits));
  append_metric(out, "gitgate_request_memory_refusals_total", "counter",
                "Requests answered 503 because no memory came free before their deadline.",
                std::to_string(stats.refusals));
}

// Where an asynchronous sync-on-miss completion may post; closed when the server stops.
struct PostGate {
  std::mutex mutex;
  bool open = true;
};

// Body buffers (requests and responses) an I/O thread reuses, so a warm server allocates none per request
// (nor makes malloc consolidate its heap for each 18 KB body). Bounded in number and size: idle memory stays
// small.
struct BufferPool {
  static constexpr size_t kMaxBuffers = 32;
  static constexpr size_t kMaxBufferBytes = 64 * 1024;
  std::vector<std::string> spare;

  std::string take() {
    if (spare.empty()) return {};
    std::string buffer = std::move(spare.back());
    spare.pop_back();
    return buffer;
  }
  void give(std::string&& buffer) {
    if (buffer.capacity() < 256 || buffer.capacity() > kMaxBufferBytes || spare.size() >= kMaxBuffers) return;
    buffer.clear();
    spare.push_back(std::move(buffer));
  }
};

// What the audit log says about one I/O thread's records. The writer thread calls back from its own thread,
// once per record; the answers wait here, and one post per batch hands them all to the I/O thread.
class RecordInbox : public std::enable_shared_from_this<RecordInbox> {
 public:
  RecordInbox(asio::io_context& ioc, std::shared_ptr<PostGate> gate) : ioc_(ioc), gate_(std::move(gate)) {}
  // Any thread. Nothing is delivered once the server stops.
  void deliver(std::weak_ptr<Session> session, uint64_t request, RecordOutcome outcome);

 private:
  void run();  // on the I/O thread

  asio::io_context& ioc_;
  std::shared_ptr<PostGate> gate_;
  std::mutex mutex_;
  struct Answer {
    std::weak_ptr<Session> session;
    uint64_t request;  // which of the session's reviews
    RecordOutcome outcome;
  };
  std::vector<Answer> answers_;
  bool posted_ = false;
  std::vector<Answer> delivering_;  // I/O thread only
};

struct Worker {
  Worker(ServerImpl& s, std::unique_ptr<Evaluator> e, AdmissionMetrics::Shard& m,
         const Published<ServingContext>& tls, std::shared_ptr<PostGate> gate)
      : server(s), evaluator(std::move(e)), metrics(m), tls_reader(tls) {
    records = std::make_shared<RecordInbox>(ioc, std::move(gate));
  }

  ServerImpl& server;
  std::unique_ptr<Evaluator> evaluator;
  AdmissionMetrics::Shard& metrics;
  Published<ServingContext>::Reader tls_reader;
  ReviewDecoder decoder;
  BufferPool buffers;
  std::unordered_set<Session*> sessions;
  bool flush_posted = false;
  std::shared_ptr<RecordInbox> records;
  // Sessions whose answer waits for the audit log, in the order they started waiting. No asynchronous
  // operation holds a session then: it holds itself while listed. One timer per thread answers those the log
  // never confirms (a write that does not return), instead of a timer per review.
  Session* waiting_first = nullptr;
  Session* waiting_last = nullptr;
  bool sweep_armed = false;
  // Destroyed first but for the sweep timer, taking pending handlers (and the sessions they hold) with it.
  asio::io_context ioc{1};
  asio::steady_timer sweep{ioc};

  ~Worker();
  // Past --max-connections: closes the connection of this thread that has waited longest for its TLS
  // handshake or its next request, so a newcomer can take its place; false when every one is busy.
  bool evict_idle();
  void wait_for_record(Session& session);
  std::shared_ptr<Session> stop_waiting(Session& session);
  void arm_sweep();
  void sweep_waiting();

  // Records handed over while handling what one read of the sockets brought are written together: the
  // flush runs after the handlers already queued.
  void request_flush() {
    if (flush_posted) return;
    flush_posted = true;
    asio::post(ioc, [this] {
      flush_posted = false;
      evaluator->flush();
    });
  }
};

// What the large-review lane hands back to the session's I/O thread.
struct LaneResult {
  enum class Kind { Malformed, WantsSync, Decided, Overdue };
  Kind kind = Kind::Decided;
  std::string error;  // Malformed
  Decision decision;
  std::optional<RecordOutcome> outcome;  // Decided: the record's outcome when the answer need not wait
  std::string uid;
  Operation operation = Operation::Create;
  std::string kind_name;
  std::string ns;
};

// One thread that decodes and decides the large reviews (over kLargeBodyBytes), one at a time, with its own
// decoder and evaluator: a 7 MiB review takes tens of milliseconds (seconds on a loaded node) to parse and
// compare, and on an I/O thread every connection of that thread would wait behind it. Here only other large
// reviews do; small ones keep flowing on the I/O threads. The request memory budget already limits how many
// large reviews are read at once, and the lane gives back its parser's memory after each.
class LargeReviewLane {
 public:
  explicit LargeReviewLane(std::unique_ptr<Evaluator> evaluator) : evaluator_(std::move(evaluator)) {}

  void start() {
    thread_ = std::thread([this] {
      auto guard = asio::make_work_guard(ioc_);
      ioc_.run();
    });
  }
  void stop() {
    ioc_.stop();
    if (thread_.joinable()) thread_.join();
  }

  // Runs `job` on the lane's thread; it gets the lane's decoder and evaluator.
  template <class Job>
  void post(Job&& job) {
    asio::post(ioc_, [this, job = std::forward<Job>(job)]() mutable { job(decoder_, *evaluator_); });
  }

 private:
  std::unique_ptr<Evaluator> evaluator_;
  ReviewDecoder decoder_;
  asio::io_context ioc_{1};
  std::thread thread_;
};

class ServerImpl final : public Server {
 public:
  ServerImpl(ServerOptions options, Application& app, std::unique_ptr<TlsReloader> tls)
      : options_(std::move(options)), app_(app), tls_(std::move(tls)),
        budget_(options_.request_memory_budget > 0 ? options_.request_memory_budget : kDefaultBudget),
        acceptor_(admin_ioc_),
        metrics_acceptor_(admin_ioc_), signals_(admin_ioc_, SIGINT, SIGTERM), reload_timer_(admin_ioc_),
        trim_timer_(admin_ioc_), drain_timer_(admin_ioc_), gate_(std::make_shared<PostGate>()) {}

  Status init();
  int run() override;
  void shutdown() override {
    asio::post(admin_ioc_, [this] { begin_shutdown(false); });
  }
  unsigned short port() const override { return port_; }
  unsigned short metrics_port() const override { return metrics_port_; }

  const ServerOptions& options() const { return options_; }
  Application& app() { return app_; }
  AdmissionMetrics& metrics() { return metrics_; }
  bool draining() const { return draining_.load(std::memory_order_acquire); }
  const std::shared_ptr<PostGate>& gate() const { return gate_; }
  MemoryBudget& budget() { return budget_; }
  LargeReviewLane& lane() { return *lane_; }
  // The largest body whose cost fits the budget: 7 MiB unless the budget is smaller than that needs.
  size_t max_body() const { return max_body_; }
  void connection_closed() { connections_.fetch_sub(1, std::memory_order_relaxed); }

 private:
  void accept();
  void accept_metrics();
  void schedule_reload();
  void schedule_trim();
  void begin_shutdown(bool immediate);
  void start_drain();
  void check_drained();
  void serve_admin(tcp::socket socket);
  void connection_refused();

  ServerOptions options_;
  Application& app_;
  std::unique_ptr<TlsReloader> tls_;
  static constexpr size_t kDefaultBudget = 256 * 1024 * 1024;
  MemoryBudget budget_;
  size_t max_body_ = kMaxBodyBytes;
  AdmissionMetrics metrics_;
  std::vector<std::unique_ptr<Worker>> workers_;
  // After the workers: destroyed first, with the jobs it still holds (and the sessions they keep).
  std::unique_ptr<LargeReviewLane> lane_;
  std::atomic<size_t> next_worker_{0};
  std::atomic<size_t> connections_{0};
  std::atomic<uint64_t> refused_connections_{0};  // closed at once: past max_connections, none idle
  std::atomic<uint64_t> evicted_connections_{0};  // idle ones closed to make room for a newcomer
  uint64_t refused_unlogged_ = 0;                 // since the last warning; acceptor's thread only
  Clock::time_point refusal_logged_{};
  static constexpr size_t kMaxAdminSessions = 256;
  size_t admin_sessions_ = 0;  // open admin-port connections; the admin thread only
  std::atomic<bool> draining_{false};
  std::atomic<bool> shutting_down_{false};
  Clock::time_point drain_deadline_;
  unsigned short port_ = 0;
  unsigned short metrics_port_ = 0;
  asio::io_context admin_ioc_{1};
  tcp::acceptor acceptor_;
  tcp::acceptor metrics_acceptor_;
  asio::signal_set signals_;
  asio::steady_timer reload_timer_;
  asio::steady_timer trim_timer_;
  asio::steady_timer drain_timer_;
  std::shared_ptr<PostGate> gate_;
};

class Session : public std::enable_shared_from_this<Session> {
 public:
  Session(Worker& worker, tcp::socket socket, std::shared_ptr<const ServingContext> tls)
      : worker_(worker),
        server_(worker.server),
        tls_(std::move(tls)),
        stream_(std::move(socket), tls_->ssl),
        linger_(worker.ioc),
        sync_timer_(worker.ioc),
        room_timer_(worker.ioc),
        lease_(server_.budget(), 0) {
    worker_.sessions.insert(this);
  }
  ~Session() {
    worker_.sessions.erase(this);
    server_.connection_closed();
  }

  void start() {
    idle_since_ = Clock::now();
    beast::get_lowest_layer(stream_).expires_after(server_.options().handshake_timeout);
    stream_.async_handshake(asio::ssl::stream_base::server,
                            [self = shared_from_this()](beast::error_code ec) { self->on_handshake(ec); });
  }

  // Waiting for a handshake or for its next request, since when: what evict_idle() may close.
  bool idle(Clock::time_point& since) const {
    since = idle_since_;
    return state_ == State::Handshake || state_ == State::Idle;
  }
  // A request whose first bytes were already read when the cancel came is still answered, then the
  // connection closes: evicted means closed, never a request dropped.
  void evict() {
    state_ = State::Closing;  // not picked again before its aborted read or handshake ends it
    evicted_ = true;
    beast::get_lowest_layer(stream_).cancel();
  }

  // Drain: an idle connection gets a short last chance for a request already on its way, then closes.
  void begin_drain() {
    if (state_ != State::Idle) return;
    linger_.expires_after(std::chrono::milliseconds(300));
    linger_.async_wait([self = shared_from_this()](beast::error_code ec) {
      if (!ec && self->state_ == State::Idle) beast::get_lowest_layer(self->stream_).cancel();
    });
  }

 private:
  enum class State { Handshake, Idle, Reading, WaitingForRoom, Deciding, InLane, Recording, Writing, Closing };

  void on_handshake(beast::error_code ec) {
    if (ec) return;  // scanners, wrong protocol versions, timeouts: nothing to answer
    if (evicted_) return;  // completed just as it was evicted: no request was sent yet
    remember_peer();
    wait_for_request();
  }

  // Who is on the other end, for the audit log: anyone who reaches the port can have a record written.
  void remember_peer() {
    beast::error_code error;
    auto endpoint = beast::get_lowest_layer(stream_).socket().remote_endpoint(error);
    if (!error) {
      std::string address = endpoint.address().to_string();
      peer_address_ = endpoint.address().is_v6() ? "[" + address + "]" : address;
      peer_address_ += ":" + std::to_string(endpoint.port());
    }
    peer_subject_ = peer_certificate_subject(stream_.native_handle());
  }

  void wait_for_request() {
    if (buffer_.size() > 0) return read_request();  // pipelined bytes already here
    if (server_.draining()) return close();
    state_ = State::Idle;
    idle_since_ = Clock::now();
    beast::get_lowest_layer(stream_).expires_after(server_.options().idle_timeout);
    stream_.async_read_some(buffer_.prepare(4096), [self = shared_from_this()](beast::error_code e, size_t n) {
      self->on_first_bytes(e, n);
    });
  }

  void on_first_bytes(beast::error_code ec, size_t n) {
    if (ec) return;  // idle timeout, client closed, drained
    buffer_.commit(n);
    read_request();
  }

  void read_request() {
    state_ = State::Reading;
    parser_.emplace();
    parser_->get().body() = worker_.buffers.take();
    parser_->header_limit(static_cast<std::uint32_t>(server_.options().max_header_bytes));
    parser_->body_limit(server_.max_body());
    beast::get_lowest_layer(stream_).expires_after(server_.options().request_timeout);
    http::async_read_header(stream_, buffer_, *parser_,
                            [self = shared_from_this()](beast::error_code e, size_t) { self->on_header(e); });
  }

  // The body's size is known (Content-Length) or grows in steps (chunked): its memory is reserved before it
  // is read, so bodies beyond the budget wait in the kernel's socket buffers, not in ours.
  void on_header(beast::error_code ec) {
    if (ec) return on_read(ec);
    auto length = parser_->content_length();
    chunked_ = !length && parser_->chunked();
    std::string_view target(parser_->get().target().data(), parser_->get().target().size());
    received_ = Clock::now();
    room_deadline_ = received_ + review_timeout(target);
    reserve_room(length ? static_cast<size_t>(*length) : (chunked_ ? kLargeBodyBytes : 0));
  }

  // A chunked body that outgrows a small one's allowance reserves a large one's cost, a step at a time.
  static constexpr size_t kChunkedStep = 1024 * 1024;

  // Makes the lease cover a body of `allowance` bytes, then reads on; waits for room when the budget is full,
  // and answers 503 when none comes before the review's deadline.
  void reserve_room(size_t allowance) {
    // A chunked body past the largest one the budget holds is answered 413 by the parser, never left waiting.
    allowance = std::min(allowance, server_.max_body());
    size_t cost = request_memory_cost(allowance);
    size_t needed = cost - std::min(cost, lease_.bytes());
    MemoryBudget& budget = server_.budget();
    const bool large = allowance > kLargeBodyBytes;
    if (budget.try_reserve(needed, large)) {
      lease_.add(needed);
      allowance_ = allowance;
      return read_body(false);
    }
    state_ = State::WaitingForRoom;
    std::weak_ptr<Session> weak = weak_from_this();
    asio::io_context& ioc = worker_.ioc;
    auto gate = server_.gate();
    room_waiter_ = budget.wait(needed, large, [gate, weak, &ioc, &budget, needed, allowance] {
      bool posted = false;
      {
        std::lock_guard lock(gate->mutex);
        if (gate->open) {
          posted = true;
          asio::post(ioc, [weak, &budget, needed, allowance] {
            if (auto self = weak.lock())
              self->room_granted(needed, allowance);
            else
              budget.release(needed);
          });
        }
      }
      if (!posted) budget.release(needed);
    });
    room_timer_.expires_at(room_deadline_);
    room_timer_.async_wait([self = shared_from_this()](beast::error_code e) {
      if (!e) self->room_overdue();
    });
  }

  void room_granted(size_t bytes, size_t allowance) {
    lease_.add(bytes);
    room_waiter_.reset();
    if (state_ != State::WaitingForRoom) return;
    room_timer_.cancel();
    allowance_ = allowance;
    read_body(true);
  }

  void room_overdue() {
    if (state_ != State::WaitingForRoom || !room_waiter_) return;
    // Granted meanwhile: the grant is on its way to this thread and reads on.
    if (!server_.budget().cancel(room_waiter_)) return;
    room_waiter_.reset();
    server_.budget().count_refusal();
    auto stats = server_.budget().stats();
    reply_error(http::status::service_unavailable,
                "no memory for this review within its timeout: " + std::to_string(stats.in_use >> 20) +
                    " MiB of the " + std::to_string(stats.capacity >> 20) +
                    " MiB request memory budget are in use by other reviews (" + std::to_string(stats.waiting) +
                    " waiting). Try again; if this persists, raise --request-memory-budget (and the memory "
                    "limit) or find who sends large reviews");
  }

  void read_body(bool fresh_deadline) {
    state_ = State::Reading;
    // Time spent waiting for room is not the client's: it gets the whole request timeout for its body.
    if (fresh_deadline) beast::get_lowest_layer(stream_).expires_after(server_.options().request_timeout);
    if (!chunked_) {
      http::async_read(stream_, buffer_, *parser_,
                       [self = shared_from_this()](beast::error_code e, size_t) { self->on_read(e); });
      return;
    }
    http::async_read_some(stream_, buffer_, *parser_,
                          [self = shared_from_this()](beast::error_code e, size_t) { self->on_body_part(e); });
  }

  // A chunked body reserves another step each time it outgrows its lease.
  void on_body_part(beast::error_code ec) {
    if (ec || parser_->is_done()) return on_read(ec);
    if (parser_->get().body().size() >= allowance_) return reserve_room(allowance_ + kChunkedStep);
    read_body(false);
  }

  void on_read(beast::error_code ec) {
    if (ec == http::error::body_limit)
      return reply_error(http::status::payload_too_large,
                         server_.max_body() == kMaxBodyBytes
                             ? std::string("request body is larger than 7 MiB")
                             : "request body is larger than " + std::to_string(server_.max_body() >> 10) +
                                   " KiB, the most the request memory budget (--request-memory-budget) allows");
    if (ec == http::error::header_limit)
      return reply_error(http::status::request_header_fields_too_large, "request headers are larger than 16 KiB");
    if (ec && ec.category() == beast::error_code(http::error::bad_method).category() &&
        ec != http::error::end_of_stream &&
        ec != http::error::partial_message)
      return reply_error(http::status::bad_request, "malformed HTTP request: " + ec.message());
    if (ec) return;  // timeout (slowloris), reset, EOF: the connection just ends
    handle();
  }

  void handle() {
    state_ = State::Deciding;
    Request& req = parser_->get();
    std::string_view target(req.target().data(), req.target().size());
    std::string_view path = target.substr(0, target.find('?'));
    if (path != "/validate") return reply_error(http::status::not_found, "not found; POST AdmissionReviews to /validate");
    if (req.method() != http::verb::post)
      return reply_error(http::status::method_not_allowed, "only POST is allowed on /validate");
    // From the headers on: time spent waiting for memory or for the body counts against the API server's.
    deadline_ = room_deadline_;
    // A record the audit log has not confirmed by the deadline is refused by the log itself; this is the
    // last resort for a log stuck in a write that does not return.
    // Checked every 50 ms: answered by 0.9 of the timeout at the latest.
    answer_by_ = deadline_ + (deadline_ - received_) / 16;
    keep_alive_ = req.keep_alive();
    decide(true);
  }

  // The API server appends ?timeout=10s; we answer well within it.
  std::chrono::milliseconds review_timeout(std::string_view target) const {
    auto cap = server_.options().max_review_timeout;
    auto pos = target.find("timeout=");
    if (pos == std::string_view::npos) return cap;
    auto value = target.substr(pos + 8);
    value = value.substr(0, value.find('&'));
    auto parsed = parse_duration(value);
    if (!parsed) return cap;
    auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(*parsed);
    return std::min(cap, ms * 8 / 10);  // leave a fifth for the network and the API server
  }

  void decide(bool may_sync) {
    std::string& body = parser_->get().body();
    if (body.capacity() < body.size() + simdjson::SIMDJSON_PADDING) body.reserve(body.size() + simdjson::SIMDJSON_PADDING);
    if (body.size() > kLargeBodyBytes) return decide_in_lane(may_sync);
    auto request = worker_.decoder.decode(std::string_view(body.data(), body.size()));
    if (!request) return reply_error(http::status::bad_request, "malformed AdmissionReview: " + request.error());
    request->peer_address = peer_address_;
    request->peer_subject = peer_subject_;
    Decision decision = worker_.evaluator->decide(*request);
    if (may_sync && decision.sync_wanted && Clock::now() < deadline_ && wait_for_sync(decision)) return;
    respond(*request, decision);
  }

  // The large-review lane decodes, decides and hands the record over; this thread answers. Nothing here
  // touches the body, the parser or the peer strings until the lane's result comes back.
  void decide_in_lane(bool may_sync) {
    state_ = State::InLane;
    ++requests_;
    early_outcome_.reset();
    std::string_view body(parser_->get().body().data(), parser_->get().body().size());
    asio::io_context& ioc = worker_.ioc;
    server_.lane().post([self = shared_from_this(), &ioc, body, may_sync, done = record_done()](
                            ReviewDecoder& decoder, Evaluator& evaluator) mutable {
      LaneResult result = decide_large(decoder, evaluator, body, may_sync, *self, std::move(done));
      // The session is released on its own thread, never on the lane's.
      asio::post(ioc, [self = std::move(self), result = std::move(result)]() mutable {
        self->lane_finished(std::move(result));
      });
    });
  }

  // On the lane's thread: reads only what the I/O thread leaves alone while the review is in the lane.
  static LaneResult decide_large(ReviewDecoder& decoder, Evaluator& evaluator, std::string_view body,
                                 bool may_sync, const Session& session, RecordDone done) {
    LaneResult result;
    // Reached the lane past its deadline (its body was slow, or other large reviews were ahead): the API
    // server is about to give up on it, so the lane does not spend a decode on it, which would only delay the
    // reviews queued behind. A review back from waiting for a sync on miss is decided whatever the time: that
    // wait ends at the deadline by design, and the answer uses the snapshot there is.
    if (may_sync && Clock::now() >= session.deadline_) {
      decoder.trim();
      result.kind = LaneResult::Kind::Overdue;
      return result;
    }
    auto request = decoder.decode(body);
    if (!request) {
      result.kind = LaneResult::Kind::Malformed;
      result.error = request.error();
    } else {
      request->peer_address = session.peer_address_;
      request->peer_subject = session.peer_subject_;
      result.decision = evaluator.decide(*request);
      if (may_sync && result.decision.sync_wanted && Clock::now() < session.deadline_) {
        result.kind = LaneResult::Kind::WantsSync;
      } else {
        auto latency = std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - session.received_);
        result.outcome = evaluator.record(*request, result.decision, latency, session.deadline_, std::move(done));
        if (!result.outcome) evaluator.flush();
        result.uid.assign(request->uid);
        result.operation = request->operation;
        result.kind_name.assign(request->kind.kind);
        result.ns.assign(request->ns);
      }
    }
    // Kept for a review that waits for a sync on miss: it comes back to be decoded again (its lease still
    // covers the parser); any other gives the parser's memory back.
    if (result.kind != LaneResult::Kind::WantsSync) decoder.trim();
    return result;
  }

  void lane_finished(LaneResult result) {
    if (state_ != State::InLane) return;
    state_ = State::Deciding;
    switch (result.kind) {
      case LaneResult::Kind::Malformed:
        return reply_error(http::status::bad_request, "malformed AdmissionReview: " + result.error);
      case LaneResult::Kind::WantsSync:
        if (wait_for_sync(result.decision)) return;
        return decide_in_lane(false);
      case LaneResult::Kind::Overdue:
        return reply_error(http::status::service_unavailable,
                           "this large review (over " + std::to_string(kLargeBodyBytes >> 10) +
                               " KiB) was not decided: reading its body and waiting behind other large reviews "
                               "took it past its deadline (0.8 of its ?timeout=). Try again; if this persists, "
                               "find who sends large reviews");
      case LaneResult::Kind::Decided:
        break;
    }
    if (!result.outcome && early_outcome_) result.outcome = std::move(early_outcome_);
    early_outcome_.reset();
    state_ = State::Recording;
    if (result.outcome)
      return answer(result.uid, result.operation, result.kind_name, result.ns, result.decision, *result.outcome);
    uid_ = std::move(result.uid);
    operation_ = result.operation;
    kind_ = std::move(result.kind_name);
    ns_ = std::move(result.ns);
    decision_ = std::move(result.decision);
    worker_.wait_for_record(*this);
  }

  // Sync on miss: the decision is taken again once Git was fetched, or at the deadline, whichever is first.
  bool wait_for_sync(const Decision& decision) {
    auto gate = server_.gate();
    auto self = shared_from_this();
    asio::io_context& ioc = worker_.ioc;
    // Only a weak reference leaves the server: a sync that never reports back must not keep a connection.
    std::weak_ptr<Session> weak = self;
    bool waiting = server_.app().request_sync(decision, deadline_, [gate, weak, &ioc] {
      std::lock_guard lock(gate->mutex);
      if (gate->open) {
        asio::post(ioc, [weak] {
          if (auto s = weak.lock()) s->sync_finished();
        });
      }
    });
    if (!waiting) return false;
    sync_timer_.expires_at(deadline_);
    sync_timer_.async_wait([self](beast::error_code ec) {
      if (!ec) self->sync_finished();
    });
    return true;
  }

  void sync_finished() {
    if (state_ != State::Deciding || synced_) return;
    synced_ = true;
    sync_timer_.cancel();
    decide(false);
  }

  // The answer goes out once the decision is recorded (or at once, when the application says so).
  void respond(const AdmissionRequest& request, Decision& decision) {
    state_ = State::Recording;
    ++requests_;
    auto latency = std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - received_);
    auto outcome = worker_.evaluator->record(request, decision, latency, deadline_, record_done());
    if (outcome)
      return answer(request.uid, request.operation, request.kind.kind, request.ns, decision, *outcome);
    // The request's views point into the decoder, which the next review on this thread reuses.
    uid_.assign(request.uid);
    operation_ = request.operation;
    kind_.assign(request.kind.kind);
    ns_.assign(request.ns);
    decision_ = std::move(decision);
    worker_.request_flush();
    worker_.wait_for_record(*this);
  }

  // Only a weak reference leaves the server: the session is kept by its thread's list of waiting ones.
  // The request number tells a late answer (its review was answered at the deadline) from the answer to the
  // review the connection sent next.
  RecordDone record_done() {
    return [records = worker_.records, weak = weak_from_this(), request = requests_](RecordOutcome outcome) {
      records->deliver(weak, request, std::move(outcome));
    };
  }

  friend class RecordInbox;
  friend struct Worker;
  void recorded(uint64_t request, RecordOutcome outcome) {
    if (request != requests_) return;
    // The log confirmed a large review's record before the lane's result came back: kept for it.
    if (state_ == State::InLane) return void(early_outcome_ = std::move(outcome));
    recorded(std::move(outcome));
  }

  void recorded(RecordOutcome outcome) {
    if (state_ != State::Recording) return;
    auto keep = worker_.stop_waiting(*this);
    answer(uid_, operation_, kind_, ns_, *decision_, outcome);
    decision_.reset();
  }

  void record_overdue() {
    recorded(
        RecordOutcome{true,
                      "gitgate: denied because the audit log did not confirm the record of this decision in "
                      "time; nothing is admitted unrecorded. Try again shortly."});
  }

  void answer(std::string_view uid, Operation operation, std::string_view kind, std::string_view ns,
              Decision& decision, const RecordOutcome& outcome) {
    if (outcome.refused) {
      decision.allowed = false;
      decision.reason.assign(kAuditUnavailableReason);
      decision.message = outcome.message;
      decision.warnings.clear();
    }
    auto latency = std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - received_);
    worker_.metrics.observe(operation, kind, ns, decision, latency);
    response_.emplace();
    response_->result(http::status::ok);
    response_->set(http::field::content_type, "application/json");
    response_->body() = worker_.buffers.take();
    response_->body().reserve(512 + decision.message.size());
    encode_response(response_->body(), uid, decision);
    send();
  }

  void reply_error(http::status status, std::string message) {
    server_.metrics().count_rejected(static_cast<int>(status));
    log::debug("rejected a request (" + std::to_string(static_cast<int>(status)) + "): " + message);
    response_.emplace();
    response_->result(status);
    response_->set(http::field::content_type, "text/plain; charset=utf-8");
    if (status == http::status::method_not_allowed) response_->set(http::field::allow, "POST");
    if (status == http::status::service_unavailable) response_->set(http::field::retry_after, "1");
    response_->body() = "gitgate: " + message + "\n";
    // After a framing error the rest of the stream cannot be trusted: answer, then close.
    keep_alive_ = status == http::status::not_found || status == http::status::method_not_allowed ||
                  status == http::status::bad_request;
    keep_alive_ = keep_alive_ && parser_ && parser_->is_done() && parser_->get().keep_alive();
    send();
  }

  void send() {
    state_ = State::Writing;
    bool keep = keep_alive_ && !server_.draining() && !evicted_;
    response_->version(11);
    response_->keep_alive(keep);
    response_->prepare_payload();
    if (parser_) worker_.buffers.give(std::move(parser_->get().body()));
    parser_.reset();
    lease_.reset();
    synced_ = false;
    beast::get_lowest_layer(stream_).expires_after(server_.options().write_timeout);
    // 413 and 431 answer before the request was read to its end: the client may still be writing it.
    bool discard = response_->result() == http::status::payload_too_large ||
                   response_->result() == http::status::request_header_fields_too_large ||
                   response_->result() == http::status::service_unavailable;
    http::async_write(stream_, *response_, [self = shared_from_this(), keep, discard](beast::error_code ec, size_t) {
      self->worker_.buffers.give(std::move(self->response_->body()));
      self->response_.reset();
      if (ec) return;
      if (discard) return self->discard_rest(0);
      if (!keep) return self->close();
      self->wait_for_request();
    });
  }

  // After a 413, 431 or 503 (no room) the client may still be sending its body or headers, and a client that writes
  // everything before reading would see a broken pipe instead of our answer: read and drop what comes,
  // bounded, then close.
  void discard_rest(size_t dropped) {
    constexpr size_t kMaxDiscard = 16 * 1024 * 1024;
    if (dropped == 0) beast::get_lowest_layer(stream_).expires_after(std::chrono::seconds(5));
    if (dropped > kMaxDiscard) return close();
    buffer_.clear();
    stream_.async_read_some(buffer_.prepare(64 * 1024), [self = shared_from_this(), dropped](beast::error_code ec, size_t n) {
      if (ec) return;
      self->discard_rest(dropped + n);
    });
  }

  void close() {
    state_ = State::Closing;
    beast::get_lowest_layer(stream_).expires_after(std::chrono::seconds(1));
    stream_.async_shutdown([self = shared_from_this()](beast::error_code) {
      beast::error_code ignored;
      beast::get_lowest_layer(self->stream_).socket().shutdown(tcp::socket::shutdown_both, ignored);
    });
  }

  Worker& worker_;
  ServerImpl& server_;
  std::shared_ptr<const ServingContext> tls_;
  beast::ssl_stream<beast::tcp_stream> stream_;
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<PaddedStringBody>> parser_;
  std::optional<Response> response_;
  asio::steady_timer linger_;
  asio::steady_timer sync_timer_;
  asio::steady_timer room_timer_;
  // Memory of the budget this review holds, from its headers until its answer is written.
  MemoryLease lease_;
  std::shared_ptr<MemoryBudget::Waiter> room_waiter_;
  Clock::time_point room_deadline_;
  size_t allowance_ = 0;  // body bytes the lease covers
  bool chunked_ = false;
  std::string peer_address_;
  std::string peer_subject_;
  State state_ = State::Handshake;
  Clock::time_point idle_since_;
  Clock::time_point received_;
  Clock::time_point deadline_;
  Clock::time_point answer_by_;
  // Listed in the worker's sessions waiting for their record.
  Session* waiting_prev_ = nullptr;
  Session* waiting_next_ = nullptr;
  std::shared_ptr<Session> self_while_waiting_;
  // The decision waiting for its record, and what its answer and metrics need of the request.
  std::optional<Decision> decision_;
  std::string uid_;
  Operation operation_ = Operation::Create;
  std::string kind_;
  std::string ns_;
  bool keep_alive_ = true;
  bool evicted_ = false;  // closed to make room: answers what was already read, then closes
  std::optional<RecordOutcome> early_outcome_;
  bool synced_ = false;
  uint64_t requests_ = 0;  // reviews decided on this connection
};

bool Worker::evict_idle() {
  Session* oldest = nullptr;
  Clock::time_point oldest_since = Clock::time_point::max();
  for (Session* s : sessions) {
    Clock::time_point since;
    if (s->idle(since) && since < oldest_since) {
      oldest = s;
      oldest_since = since;
    }
  }
  if (oldest == nullptr) return false;
  oldest->evict();  // its pending read or handshake ends with operation_aborted, and with it the session
  return true;
}

Worker::~Worker() {
  while (waiting_first != nullptr) stop_waiting(*waiting_first);
}

void Worker::wait_for_record(Session& session) {
  session.self_while_waiting_ = session.shared_from_this();
  session.waiting_prev_ = waiting_last;
  session.waiting_next_ = nullptr;
  (waiting_last != nullptr ? waiting_last->waiting_next_ : waiting_first) = &session;
  waiting_last = &session;
  if (!sweep_armed) arm_sweep();
}

void Worker::arm_sweep() {
  sweep_armed = true;
  sweep.expires_after(std::chrono::milliseconds(50));
  sweep.async_wait([this](beast::error_code ec) {
    if (!ec) sweep_waiting();
  });
}

std::shared_ptr<Session> Worker::stop_waiting(Session& session) {
  (session.waiting_prev_ != nullptr ? session.waiting_prev_->waiting_next_ : waiting_first) =
      session.waiting_next_;
  (session.waiting_next_ != nullptr ? session.waiting_next_->waiting_prev_ : waiting_last) =
      session.waiting_prev_;
  session.waiting_prev_ = session.waiting_next_ = nullptr;
  return std::move(session.self_while_waiting_);
}

void Worker::sweep_waiting() {
  sweep_armed = false;
  const auto now = Clock::now();
  for (Session* session = waiting_first; session != nullptr;) {
    Session* next = session->waiting_next_;
    if (session->answer_by_ <= now) session->record_overdue();
    session = next;
  }
  if (waiting_first != nullptr) arm_sweep();
}

void RecordInbox::deliver(std::weak_ptr<Session> session, uint64_t request, RecordOutcome outcome) {
  {
    std::lock_guard lock(mutex_);
    answers_.push_back({std::move(session), request, std::move(outcome)});
    if (posted_) return;
    posted_ = true;
  }
  // Once for the writer's whole batch: the I/O thread answers every review of it in one go.
  ConfirmationBatch::wake([self = shared_from_this()] {
    std::lock_guard gate_lock(self->gate_->mutex);
    if (self->gate_->open) asio::post(self->ioc_, [self] { self->run(); });
  });
}

void RecordInbox::run() {
  {
    std::lock_guard lock(mutex_);
    delivering_.swap(answers_);
    posted_ = false;
  }
  for (auto& answer : delivering_) {
    if (auto session = answer.session.lock()) session->recorded(answer.request, std::move(answer.outcome));
  }
  delivering_.clear();
}

Status ServerImpl::init() {
  raise_descriptor_limit();
  while (max_body_ > kLargeBodyBytes && request_memory_cost(max_body_) > budget_.large_capacity())
    max_body_ -= 64 * 1024;
  if (max_body_ < kMaxBodyBytes)
    log::warn("the request memory budget (" + std::to_string(budget_.capacity() >> 20) +
              " MiB) fits bodies up to " + std::to_string(max_body_ >> 10) +
              " KiB; larger reviews are answered 413 (7 MiB need " +
              std::to_string(((request_memory_cost(kMaxBodyBytes) * 8 / 7) >> 20) + 1) + " MiB)");
  unsigned threads = options_.threads == 0 ? default_threads() : options_.threads;
  for (unsigned i = 0; i < threads; ++i) {
    workers_.push_back(
        std::make_unique<Worker>(*this, app_.make_evaluator(), metrics_.new_shard(), tls_->context(), gate_));
  }
  lane_ = std::make_unique<LargeReviewLane>(app_.make_evaluator());
  auto bind = [&](tcp::acceptor& acceptor, const std::string& address, unsigned short& bound) -> Status {
    auto parsed = parse_listen_address(address);
    if (!parsed) return Error{parsed.error()};
    beast::error_code ec;
    auto ip = asio::ip::make_address(parsed->first, ec);
    if (ec) return Error{"listen address '" + address + "': not an IP address"};
    tcp::endpoint endpoint(ip, parsed->second);
    acceptor.open(endpoint.protocol(), ec);
    if (!ec) acceptor.set_option(asio::socket_base::reuse_address(true), ec);
    if (!ec) acceptor.bind(endpoint, ec);
    if (!ec) acceptor.listen(asio::socket_base::max_listen_connections, ec);
    if (ec) return Error{"cannot listen on " + address + ": " + ec.message()};
    bound = acceptor.local_endpoint().port();
    return {};
  };
  if (auto s = bind(acceptor_, options_.listen, port_); !s) return s;
  if (auto s = bind(metrics_acceptor_, options_.metrics_listen, metrics_port_); !s) return s;
  return {};
}

void ServerImpl::accept() {
  Worker& worker = *workers_[next_worker_.fetch_add(1, std::memory_order_relaxed) % workers_.size()];
  acceptor_.async_accept(worker.ioc, [this, &worker](beast::error_code ec, tcp::socket socket) {
    if (ec == asio::error::operation_aborted || !acceptor_.is_open()) return;
    if (!ec) {
      bool full = connections_.fetch_add(1, std::memory_order_relaxed) >= options_.max_connections;
      beast::error_code ignored;
      socket.set_option(tcp::no_delay(true), ignored);
      // Full: the connection that has been idle longest on the newcomer's thread makes room (an idle client
      // reconnects when it needs to), so holding connections open cannot lock the API server out. With
      // every connection busy, the newcomer is refused.
      asio::post(worker.ioc, [this, &worker, full, s = std::move(socket)]() mutable {
        if (full && !worker.evict_idle()) {
          connections_.fetch_sub(1, std::memory_order_relaxed);
          beast::error_code closed;
          s.close(closed);
          asio::post(admin_ioc_, [this] { connection_refused(); });
          return;
        }
        if (full) evicted_connections_.fetch_add(1, std::memory_order_relaxed);
        std::make_shared<Session>(worker, std::move(s), worker.tls_reader.get())->start();
      });
    } else {
      log::warn("accept failed: " + ec.message());
    }
    accept();
  });
}

// A connection past --max-connections was closed: counted, and said at most every 10 s for as long as it
// goes on (on the acceptor's thread only).
void ServerImpl::connection_refused() {
  refused_connections_.fetch_add(1, std::memory_order_relaxed);
  ++refused_unlogged_;
  auto now = Clock::now();
  if (refusal_logged_ != Clock::time_point{} && now - refusal_logged_ < std::chrono::seconds(10)) return;
  refusal_logged_ = now;
  log::warn("closed " + std::to_string(refused_unlogged_) + " new webhook connection(s): " +
            std::to_string(options_.max_connections) +
            " are open and busy, the most --max-connections allows (each holds about " +
            std::to_string(kConnectionMemoryBytes >> 10) +
            " KiB). The API server's calls on them fail; if it is the API server that opens so many, raise "
            "--max-connections and the memory limit, else find who does");
  refused_unlogged_ = 0;
}

// The admin port answers one small GET per connection: /healthz, /readyz, /metrics.
void ServerImpl::serve_admin(tcp::socket socket) {
  struct AdminSession : std::enable_shared_from_this<AdminSession> {
    AdminSession(ServerImpl& s, tcp::socket sock) : server(s), stream(std::move(sock)) { ++server.admin_sessions_; }
    ~AdminSession() { --server.admin_sessions_; }
    ServerImpl& server;
    beast::tcp_stream stream;
    beast::flat_buffer buffer;
    http::request<http::empty_body> req;
    Response res;

    void start() {
      stream.expires_after(std::chrono::seconds(10));
      http::async_read(stream, buffer, req, [self = shared_from_this()](beast::error_code ec, size_t) {
        if (ec) return;
        self->answer();
      });
    }
    void answer() {
      std::string_view target(req.target().data(), req.target().size());
      target = target.substr(0, target.find('?'));
      res.version(11);
      res.keep_alive(false);
      res.set(http::field::content_type, "text/plain; charset=utf-8");
      std::string why;
      if (req.method() != http::verb::get && req.method() != http::verb::head) {
        res.result(http::status::method_not_allowed);
        res.body() = "only GET\n";
      } else if (target == "/healthz") {
        res.result(http::status::ok);
        res.body() = "ok\n";
      } else if (target == "/readyz") {
        bool ready = !server.shutting_down_.load() && server.app_.ready(why);
        if (server.shutting_down_.load()) why = "shutting down";
        res.result(ready ? http::status::ok : http::status::service_unavailable);
        res.body() = ready ? "ready\n" : "not ready: " + why + "\n";
      } else if (target == "/metrics") {
        res.result(http::status::ok);
        res.set(http::field::content_type, "text/plain; version=0.0.4; charset=utf-8");
        server.metrics_.render(res.body());
        server.app_.render_metrics(res.body());
        append_metric_header(res.body(), "gitgate_connections", "gauge", "Open webhook connections.");
        res.body() += "gitgate_connections " + std::to_string(server.connections_.load()) + "\n";
        append_metric(res.body(), "gitgate_connections_refused_total", "counter",
                      "Webhook connections closed at once: --max-connections were open and none was idle.",
                      std::to_string(server.refused_connections_.load()));
        append_metric(res.body(), "gitgate_connections_evicted_total", "counter",
                      "Idle webhook connections closed to make room for a new one past --max-connections.",
                      std::to_string(server.evicted_connections_.load()));
        append_metric_header(res.body(), "gitgate_tls_reloads_total", "counter",
                             "Serving certificate reloads, by result.");
        res.body() += "gitgate_tls_reloads_total{result=\"ok\"} " + std::to_string(server.tls_->reloads()) + "\n";
        res.body() += "gitgate_tls_reloads_total{result=\"rejected\"} " + std::to_string(server.tls_->failures()) + "\n";
        render_budget_metrics(res.body(), server.budget_.stats());
      } else {
        res.result(http::status::not_found);
        res.body() = "not found; try /healthz, /readyz or /metrics\n";
      }
      res.prepare_payload();
      http::async_write(stream, res, [self = shared_from_this()](beast::error_code, size_t) {
        beast::error_code ignored;
        self->stream.socket().shutdown(tcp::socket::shutdown_both, ignored);
      });
    }
  };
  // Probes and scrapes come a few at a time; a flood of idle connections must not grow without end.
  if (admin_sessions_ >= kMaxAdminSessions) {
    beast::error_code ignored;
    socket.close(ignored);
    return;
  }
  std::make_shared<AdminSession>(*this, std::move(socket))->start();
}

void ServerImpl::accept_metrics() {
  metrics_acceptor_.async_accept([this](beast::error_code ec, tcp::socket socket) {
    if (ec == asio::error::operation_aborted || !metrics_acceptor_.is_open()) return;
    if (!ec) serve_admin(std::move(socket));
    accept_metrics();
  });
}

void ServerImpl::schedule_reload() {
  reload_timer_.expires_after(options_.tls_reload_interval);
  reload_timer_.async_wait([this](beast::error_code ec) {
    if (ec) return;
    tls_->reload_if_changed();
    schedule_reload();
  });
}

// A burst (requests waiting for a sync on miss, a stalled node, a 7 MiB review) leaves free memory spread
// through the I/O threads' heaps, where glibc keeps it resident: RSS would follow the highest load ever
// seen rather than what is in use. malloc_trim hands back every free page, in well under a millisecond.
void ServerImpl::schedule_trim() {
  if (options_.memory_trim_interval.count() <= 0) return;
  trim_timer_.expires_after(options_.memory_trim_interval);
  trim_timer_.async_wait([this](beast::error_code ec) {
    if (ec) return;
    auto start = Clock::now();
    malloc_trim(0);
    log::debug("memory trimmed in " +
               format_duration(std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - start)));
    schedule_trim();
  });
}

void ServerImpl::begin_shutdown(bool immediate) {
  if (shutting_down_.exchange(true)) {
    if (immediate && !draining()) {
      log::info("second signal: draining now");
      drain_timer_.cancel();
      start_drain();
    }
    return;
  }
  log::info("shutting down: /readyz is false; serving for " +
            format_duration(std::chrono::duration_cast<std::chrono::microseconds>(options_.shutdown_delay)) +
            " more, then draining");
  drain_timer_.expires_after(immediate ? std::chrono::milliseconds(0) : options_.shutdown_delay);
  drain_timer_.async_wait([this](beast::error_code ec) {
    if (ec) return;
    start_drain();
  });
}

void ServerImpl::start_drain() {
  draining_.store(true, std::memory_order_release);
  beast::error_code ignored;
  acceptor_.close(ignored);
  for (auto& worker : workers_) {
    asio::post(worker->ioc, [w = worker.get()] {
      std::vector<std::shared_ptr<Session>> idle;
      for (Session* s : w->sessions) idle.push_back(s->shared_from_this());
      for (auto& s : idle) s->begin_drain();
    });
  }
  drain_deadline_ = Clock::now() + options_.drain_timeout;
  check_drained();
}

void ServerImpl::check_drained() {
  if (connections_.load() == 0 || Clock::now() >= drain_deadline_) {
    if (connections_.load() != 0)
      log::warn("drain timeout: closing " + std::to_string(connections_.load()) + " connections");
    log::info("drained; stopping");
    {
      std::lock_guard lock(gate_->mutex);
      gate_->open = false;
    }
    for (auto& worker : workers_) worker->ioc.stop();
    admin_ioc_.stop();
    return;
  }
  drain_timer_.expires_after(std::chrono::milliseconds(20));
  drain_timer_.async_wait([this](beast::error_code ec) {
    if (!ec) check_drained();
  });
}

int ServerImpl::run() {
  signals_.async_wait([this](beast::error_code ec, int sig) {
    if (ec) return;
    log::info(std::string("received ") + (sig == SIGTERM ? "SIGTERM" : "SIGINT"));
    begin_shutdown(false);
    signals_.async_wait([this](beast::error_code e, int) {
      if (!e) begin_shutdown(true);
    });
  });
  accept();
  accept_metrics();
  schedule_reload();
  schedule_trim();
  log::info("serving admission reviews on https://" + options_.listen + "/validate (port " + std::to_string(port_) +
            "), metrics on http://" + options_.metrics_listen + " with " + std::to_string(workers_.size()) +
            " I/O threads");
  std::vector<std::thread> threads;
  for (auto& worker : workers_) {
    threads.emplace_back([w = worker.get()] {
      auto guard = asio::make_work_guard(w->ioc);
      w->ioc.run();
    });
  }
  lane_->start();
  admin_ioc_.run();
  for (auto& t : threads) t.join();
  lane_->stop();
  return 0;
}

}  // namespace

Result<std::pair<std::string, unsigned short>> parse_listen_address(const std::string& text) {
  auto colon = text.rfind(':');
  if (colon == std::string::npos || colon + 1 == text.size())
    return Error{"listen address '" + text + "': expected HOST:PORT, e.g. 0.0.0.0:8443"};
  std::string host = text.substr(0, colon);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  if (host.empty()) host = "0.0.0.0";
  unsigned long port = 0;
  for (char c : text.substr(colon + 1)) {
    if (c < '0' || c > '9') return Error{"listen address '" + text + "': port must be a number"};
    port = port * 10 + static_cast<unsigned long>(c - '0');
    if (port > 65535) return Error{"listen address '" + text + "': port out of range"};
  }
  return std::pair<std::string, unsigned short>{host, static_cast<unsigned short>(port)};
}

Result<std::unique_ptr<Server>> Server::create(ServerOptions options, Application& app) {
  auto tls = TlsReloader::create(options.tls);
  if (!tls) return std::move(tls).take_error();
  auto server = std::make_unique<ServerImpl>(std::move(options), app, std::move(*tls));
  if (auto s = server->init(); !s) return Error{s.error()};
  return std::unique_ptr<Server>(std::move(server));
}

}  // namespace gitgate::webhook
