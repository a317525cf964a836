#include "app/viewer/render_queue.h"

#include <vector>

namespace nerfedit {

RenderQueue::RenderQueue(int max_waiting) : max_waiting_(max_waiting < 1 ? 1 : max_waiting) {
  thread_ = std::thread([this] { Loop(); });
}

RenderQueue::~RenderQueue() { Shutdown(); }

void RenderQueue::Enqueue(Job job) {
  std::exception_ptr refuse;
  std::function<void(std::exception_ptr)> fail_replaced;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (stopping_) {
      refuse = std::make_exception_ptr(QueueRejected("server is shutting down"));
    } else {
      Job* same_client = nullptr;
      if (!job.client.empty()) {
        for (auto& waiting : jobs_) {
          if (waiting.client == job.client) same_client = &waiting;
        }
      }
      if (same_client != nullptr) {
        ++superseded_;
        if (job.sequence >= same_client->sequence) {
          // Keep the client's place in the line; only the view changes.
          fail_replaced = std::move(same_client->fail);
          *same_client = std::move(job);
        } else {
          refuse = std::make_exception_ptr(Superseded());  // arrived after a newer request from its own client
        }
      } else if (static_cast<int>(jobs_.size()) >= max_waiting_) {
        refuse = std::make_exception_ptr(
            QueueRejected("render queue is full: " + std::to_string(jobs_.size()) + " requests waiting"));
      } else {
        jobs_.push_back(std::move(job));
      }
    }
  }
  // Promises are completed outside the lock: a waiting HTTP thread may wake and re-enter Submit at once.
  if (fail_replaced) fail_replaced(std::make_exception_ptr(Superseded()));
  if (refuse) job.fail(refuse);
  wake_.notify_one();
}

void RenderQueue::Loop() {
  for (;;) {
    Job job;
    {
      std::unique_lock<std::mutex> lock(mutex_);
      wake_.wait(lock, [this] { return stopping_ || !jobs_.empty(); });
      if (stopping_) return;  // Shutdown() has already failed the waiting jobs
      job = std::move(jobs_.front());
      jobs_.pop_front();
    }
    job.run();  // never throws: the job stores its exception in its promise
    std::lock_guard<std::mutex> lock(mutex_);
    ++completed_;
  }
}

void RenderQueue::Shutdown() {
  std::vector<Job> dropped;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stopping_ = true;
    dropped.assign(std::make_move_iterator(jobs_.begin()), std::make_move_iterator(jobs_.end()));
    jobs_.clear();
  }
  wake_.notify_all();
  for (auto& job : dropped) job.fail(std::make_exception_ptr(QueueRejected("server is shutting down")));
  if (thread_.joinable() && thread_.get_id() != std::this_thread::get_id()) thread_.join();
}

int64_t RenderQueue::waiting() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return static_cast<int64_t>(jobs_.size());
}

int64_t RenderQueue::completed() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return completed_;
}

int64_t RenderQueue::superseded() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return superseded_;
}

}  // namespace nerfedit
