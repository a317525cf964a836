// One render thread with a queue in front of it, holding at most one waiting job per client: a newer request from
// the same client replaces its older waiting one, so a user who drags never waits for views they have already left.
// The scene is only ever touched from this thread, so Renderable implementations need not be thread-safe.
#pragma once
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <exception>
#include <functional>
#include <future>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>

namespace nerfedit {

// The job was replaced by a newer one from the same client before it started (HTTP 409).
class Superseded : public std::runtime_error {
 public:
  Superseded() : std::runtime_error("superseded") {}
};

// The queue refused or dropped the job: full (HTTP 503) or shutting down (HTTP 503).
class QueueRejected : public std::runtime_error {
 public:
  explicit QueueRejected(const std::string& why) : std::runtime_error(why) {}
};

class RenderQueue {
 public:
  // `max_waiting` bounds the jobs waiting behind the running one (identified clients hold at most one each).
  explicit RenderQueue(int max_waiting);
  ~RenderQueue();  // Shutdown()
  RenderQueue(const RenderQueue&) = delete;
  RenderQueue& operator=(const RenderQueue&) = delete;

  // Runs `work` on the render thread; the future holds its result or exception. An empty `client` is never
  // superseded. For a non-empty client, the waiting job with the lower `sequence` of the two fails with Superseded
  // (a newer arrival wins ties). Throws nothing: a full or stopped queue fails the future with QueueRejected.
  template <typename T>
  std::future<T> Submit(const std::string& client, int64_t sequence, std::function<T()> work) {
    auto promise = std::make_shared<std::promise<T>>();
    std::future<T> future = promise->get_future();
    Job job;
    job.client = client;
    job.sequence = sequence;
    job.run = [promise, work = std::move(work)] {
      try {
        promise->set_value(work());
      } catch (...) {
        promise->set_exception(std::current_exception());
      }
    };
    job.fail = [promise](std::exception_ptr error) { promise->set_exception(error); };
    Enqueue(std::move(job));
    return future;
  }

  // Fails every waiting job with QueueRejected, lets the running one finish, joins the thread. Idempotent.
  void Shutdown();

  int64_t waiting() const;         // jobs queued behind the running one
  int64_t completed() const;       // jobs that ran (successfully or not)
  int64_t superseded() const;      // jobs replaced before they ran

 private:
  struct Job {
    std::string client;
    int64_t sequence = 0;
    std::function<void()> run;
    std::function<void(std::exception_ptr)> fail;
  };
  void Enqueue(Job job);
  void Loop();

  const int max_waiting_;
  mutable std::mutex mutex_;
  std::condition_variable wake_;
  std::deque<Job> jobs_;
  bool stopping_ = false;
  int64_t completed_ = 0;
  int64_t superseded_ = 0;
  std::thread thread_;
};

}  // namespace nerfedit
