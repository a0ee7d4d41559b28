#pragma once
// A bounded pool of worker threads for bulk work (insert_many, get_many, list): at most `size`
// requests in flight per database, whatever the batch size. The calling thread works too, so a
// batch never waits for a busy pool, and nested batches cannot deadlock.

#include <atomic>
#include <condition_variable>
#include <cstddef>
#include <deque>
#include <exception>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

namespace s3db::detail {

class WorkerPool {
public:
    explicit WorkerPool(std::size_t size) : size_(size ? size : 1) {}
    WorkerPool(const WorkerPool&) = delete;
    WorkerPool& operator=(const WorkerPool&) = delete;
    ~WorkerPool() {
        {
            std::lock_guard lock(mutex_);
            stopping_ = true;
        }
        wake_.notify_all();
        for (auto& t : threads_) t.join();
    }

    std::size_t size() const noexcept { return size_; }

    /// Runs fn(0) ... fn(n-1), at most size() at a time, and returns when all are done. An exception
    /// thrown by fn is rethrown here after the others finish (callers that want per-item results
    /// catch inside fn).
    void for_each_index(std::size_t n, const std::function<void(std::size_t)>& fn) {
        if (n == 0) return;
        if (n == 1 || size_ == 1) {
            for (std::size_t i = 0; i < n; ++i) fn(i);
            return;
        }
        auto batch = std::make_shared<Batch>(n, fn);
        std::size_t helpers = std::min(n, size_) - 1;  // the caller is one of the workers
        {
            std::lock_guard lock(mutex_);
            while (threads_.size() < size_ - 1) threads_.emplace_back([this] { work(); });
            for (std::size_t i = 0; i < helpers; ++i) queue_.push_back(batch);
        }
        wake_.notify_all();
        batch->run();
        std::unique_lock lock(batch->mutex);
        batch->done.wait(lock, [&] { return batch->finished == batch->n; });
        if (batch->error) std::rethrow_exception(batch->error);
    }

private:
    struct Batch {
        Batch(std::size_t n, const std::function<void(std::size_t)>& fn) : n(n), fn(fn) {}
        const std::size_t n;
        const std::function<void(std::size_t)>& fn;
        std::atomic<std::size_t> next{0};
        std::mutex mutex;
        std::condition_variable done;
        std::size_t finished = 0;
        std::exception_ptr error;

        void run() {
            for (std::size_t i; (i = next++) < n;) {
                try {
                    fn(i);
                } catch (...) {
                    std::lock_guard lock(mutex);
                    if (!error) error = std::current_exception();
                }
                std::lock_guard lock(mutex);
                if (++finished == n) done.notify_all();
            }
        }
    };

    void work() {
        for (;;) {
            std::shared_ptr<Batch> batch;
            {
                std::unique_lock lock(mutex_);
                wake_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
                if (queue_.empty()) return;
                batch = std::move(queue_.front());
                queue_.pop_front();
            }
            batch->run();
        }
    }

    const std::size_t size_;
    std::mutex mutex_;
    std::condition_variable wake_;
    std::deque<std::shared_ptr<Batch>> queue_;
    std::vector<std::thread> threads_;
    bool stopping_ = false;
};

}  // namespace s3db::detail
