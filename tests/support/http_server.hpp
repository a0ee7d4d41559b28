#pragma once
// A small HTTP/1.1 server on 127.0.0.1 (an ephemeral port) for tests of HTTP clients: it records
// every request (method, path, headers with lowercase names, body) and answers each with the next
// scripted status (200 once the script is used up). One connection at a time, keep-alive honoured.

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <map>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace s3db::test {

class HttpServer {
public:
    struct Request {
        std::string method, path, body;
        std::map<std::string, std::string> headers;
    };

    HttpServer() {
        fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
        if (fd_ < 0) throw std::runtime_error("HttpServer: socket failed");
        int one = 1;
        ::setsockopt(fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
        sockaddr_in a{};
        a.sin_family = AF_INET;
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        a.sin_port = 0;
        if (::bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 || ::listen(fd_, 16) != 0)
            throw std::runtime_error("HttpServer: bind/listen failed");
        socklen_t len = sizeof a;
        ::getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len);
        port_ = ntohs(a.sin_port);
        thread_ = std::thread([this] { serve(); });
    }
    ~HttpServer() {
        stop_ = true;
        thread_.join();
        ::close(fd_);
    }

    std::string url(const std::string& path = "/hook") const { return "http://127.0.0.1:" + std::to_string(port_) + path; }

    /// The statuses of the next answers, in order.
    void script(std::vector<int> statuses) {
        std::lock_guard lock(mutex_);
        script_.insert(script_.end(), statuses.begin(), statuses.end());
    }
    std::vector<Request> requests() const {
        std::lock_guard lock(mutex_);
        return requests_;
    }
    /// Waits until `n` requests arrived (false on time-out).
    bool wait_for(std::size_t n, std::chrono::milliseconds timeout = std::chrono::seconds(20)) {
        std::unique_lock lock(mutex_);
        return arrived_.wait_for(lock, timeout, [&] { return requests_.size() >= n; });
    }

private:
    void serve() {
        while (!stop_) {
            pollfd p{fd_, POLLIN, 0};
            if (::poll(&p, 1, 50) <= 0) continue;
            int c = ::accept(fd_, nullptr, nullptr);
            if (c < 0) continue;
            std::string buffer;
            while (!stop_ && handle(c, buffer)) {
            }
            ::close(c);
        }
    }

    /// Reads one request from `c` and answers it; false when the connection is done.
    bool handle(int c, std::string& buffer) {
        auto fill = [&]() {
            pollfd p{c, POLLIN, 0};
            while (!stop_) {
                int r = ::poll(&p, 1, 50);
                if (r < 0) return false;
                if (r == 0) continue;
                char chunk[8192];
                ssize_t n = ::recv(c, chunk, sizeof chunk, 0);
                if (n <= 0) return false;
                buffer.append(chunk, static_cast<std::size_t>(n));
                return true;
            }
            return false;
        };
        std::size_t end;
        while ((end = buffer.find("\r\n\r\n")) == std::string::npos)
            if (!fill()) return false;
        Request r;
        std::string head = buffer.substr(0, end);
        std::size_t line_end = head.find("\r\n");
        std::string first = head.substr(0, line_end);
        auto sp1 = first.find(' '), sp2 = first.rfind(' ');
        r.method = first.substr(0, sp1);
        r.path = first.substr(sp1 + 1, sp2 - sp1 - 1);
        std::size_t pos = line_end == std::string::npos ? head.size() : line_end + 2;
        while (pos < head.size()) {
            auto eol = head.find("\r\n", pos);
            if (eol == std::string::npos) eol = head.size();
            std::string line = head.substr(pos, eol - pos);
            if (auto colon = line.find(':'); colon != std::string::npos) {
                std::string k = line.substr(0, colon), v = line.substr(colon + 1);
                std::transform(k.begin(), k.end(), k.begin(), [](unsigned char ch) { return std::tolower(ch); });
                v.erase(0, v.find_first_not_of(' '));
                r.headers[k] = v;
            }
            pos = eol + 2;
        }
        std::size_t length = r.headers.count("content-length") ? std::stoul(r.headers["content-length"]) : 0;
        buffer.erase(0, end + 4);
        while (buffer.size() < length)
            if (!fill()) return false;
        r.body = buffer.substr(0, length);
        buffer.erase(0, length);
        int status = 200;
        {
            std::lock_guard lock(mutex_);
            if (!script_.empty()) {
                status = script_.front();
                script_.pop_front();
            }
            requests_.push_back(std::move(r));
        }
        arrived_.notify_all();
        std::string reply = "HTTP/1.1 " + std::to_string(status) + " X\r\nContent-Length: 2\r\nContent-Type: text/plain\r\n\r\nok";
        return ::send(c, reply.data(), reply.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(reply.size());
    }

    int fd_ = -1;
    int port_ = 0;
    std::atomic<bool> stop_{false};
    std::thread thread_;
    mutable std::mutex mutex_;
    std::condition_variable arrived_;
    std::deque<int> script_;
    std::vector<Request> requests_;
};

}  // namespace s3db::test
