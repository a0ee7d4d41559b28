#pragma once
// A small HTTP/1.1 server on 127.0.0.1 (an ephemeral port) for tests of HTTP clients. It records
// every request (method, target, headers with lowercase names, body) and answers each with what a
// handler returns: the raw response, or "" to close the connection without answering (an answer
// lost on the way). One connection at a time; keep-alive is honoured unless the response says
// `Connection: close`. `StatusScript` is a handler that answers with scripted statuses.

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <chrono>
#include <deque>
#include <functional>
#include <map>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace s3db::test {

inline std::string lowercase(std::string s) {
    std::transform(s.begin(), s.end(), s.begin(), [](unsigned char ch) { return static_cast<char>(std::tolower(ch)); });
    return s;
}

struct HttpRequest {
    std::string method;
    std::string target;  ///< as sent: path and query
    std::string path;    ///< the target without its query
    std::string body;
    std::map<std::string, std::string> headers;  ///< lowercase names
    std::chrono::steady_clock::time_point received{};  ///< when its head was read in full

    /// The value of a header (by its lowercase name), "" when absent.
    std::string header(const std::string& lower_name) const {
        auto it = headers.find(lower_name);
        return it == headers.end() ? std::string() : it->second;
    }
};

/// A raw HTTP/1.1 response that closes the connection.
inline std::string http_response(int status, const std::string& reason, const std::string& body,
                                 const std::vector<std::string>& headers = {}) {
    std::string r = "HTTP/1.1 " + std::to_string(status) + " " + reason + "\r\nContent-Length: " +
                    std::to_string(body.size()) + "\r\nConnection: close\r\n";
    for (const auto& h : headers) r += h + "\r\n";
    return r + "\r\n" + body;
}

class HttpServer {
public:
    /// Gets each request and its index (0 for the first) and returns the raw response.
    using Handler = std::function<std::string(const HttpRequest&, int index)>;

    explicit HttpServer(Handler handler) : handler_(std::move(handler)) {
        fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
        if (fd_ < 0) throw std::runtime_error("HttpServer: socket failed");
        int one = 1;
        ::setsockopt(fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
        sockaddr_in a{};
        a.sin_family = AF_INET;
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        a.sin_port = 0;
        if (::bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 || ::listen(fd_, 16) != 0) {
            ::close(fd_);
            throw std::runtime_error("HttpServer: cannot listen on 127.0.0.1");
        }
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
    HttpServer(const HttpServer&) = delete;
    HttpServer& operator=(const HttpServer&) = delete;

    /// http://127.0.0.1:<port> followed by `path`.
    std::string url(const std::string& path = "") const { return "http://127.0.0.1:" + std::to_string(port_) + path; }

    /// Every request so far, in order of arrival.
    std::vector<HttpRequest> requests() const {
        std::lock_guard lock(mutex_);
        return requests_;
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

    /// Appends what `c` sends next to `buffer`; false when the connection is done.
    bool fill(int c, std::string& buffer) {
        pollfd p{c, POLLIN, 0};
        while (!stop_) {
            int r = ::poll(&p, 1, 50);
            if (r < 0) return false;
            if (r == 0) continue;
            char chunk[65536];
            ssize_t n = ::recv(c, chunk, sizeof chunk, 0);
            if (n <= 0) return false;
            buffer.append(chunk, static_cast<std::size_t>(n));
            return true;
        }
        return false;
    }

    /// Reads one request from `c` and answers it; false when the connection is done.
    bool handle(int c, std::string& buffer) {
        std::size_t end;
        while ((end = buffer.find("\r\n\r\n")) == std::string::npos)
            if (!fill(c, buffer)) return false;
        HttpRequest r;
        r.received = std::chrono::steady_clock::now();
        std::string head = buffer.substr(0, end);
        std::size_t line_end = head.find("\r\n");
        std::string first = head.substr(0, line_end);
        auto sp1 = first.find(' '), sp2 = first.find(' ', sp1 + 1);
        r.method = first.substr(0, sp1);
        r.target = first.substr(sp1 + 1, sp2 - sp1 - 1);
        r.path = r.target.substr(0, r.target.find('?'));
        std::size_t pos = line_end == std::string::npos ? head.size() : line_end + 2;
        while (pos < head.size()) {
            auto eol = head.find("\r\n", pos);
            if (eol == std::string::npos) eol = head.size();
            std::string line = head.substr(pos, eol - pos);
            if (auto colon = line.find(':'); colon != std::string::npos) {
                std::string v = line.substr(colon + 1);
                v.erase(0, v.find_first_not_of(' '));
                r.headers.emplace(lowercase(line.substr(0, colon)), v);
            }
            pos = eol + 2;
        }
        std::size_t length = r.headers.count("content-length") ? std::stoul(r.headers["content-length"]) : 0;
        buffer.erase(0, end + 4);
        while (buffer.size() < length)
            if (!fill(c, buffer)) return false;
        r.body = buffer.substr(0, length);
        buffer.erase(0, length);
        int index;
        {
            std::lock_guard lock(mutex_);
            requests_.push_back(r);
            index = static_cast<int>(requests_.size()) - 1;
        }
        std::string reply = handler_(r, index);
        if (reply.empty()) return false;
        if (::send(c, reply.data(), reply.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(reply.size())) return false;
        return lowercase(reply.substr(0, reply.find("\r\n\r\n"))).find("\r\nconnection: close") == std::string::npos;
    }

    Handler handler_;
    int fd_ = -1;
    int port_ = 0;
    std::atomic<bool> stop_{false};
    mutable std::mutex mutex_;
    std::vector<HttpRequest> requests_;
    std::thread thread_;
};

/// A handler that answers with the next scripted status (200 once the script is used up), and
/// the headers scripted with it. Declare it before the server that uses it:
/// `HttpServer server(script.handler());`.
class StatusScript {
public:
    explicit StatusScript(std::vector<int> statuses = {}) { add(std::move(statuses)); }

    /// The statuses of the next answers, in order.
    void add(std::vector<int> statuses) {
        std::lock_guard lock(mutex_);
        for (int s : statuses) answers_.push_back({s, {}});
    }
    /// One more answer: `status` with these header lines ("Retry-After: 2").
    void add(int status, std::vector<std::string> headers) {
        std::lock_guard lock(mutex_);
        answers_.push_back({status, std::move(headers)});
    }

    HttpServer::Handler handler() {
        return [this](const HttpRequest&, int) {
            Answer a{200, {}};
            {
                std::lock_guard lock(mutex_);
                if (!answers_.empty()) {
                    a = std::move(answers_.front());
                    answers_.pop_front();
                }
            }
            a.headers.push_back("Content-Type: text/plain");
            return http_response(a.status, "X", "ok", a.headers);
        };
    }

private:
    struct Answer {
        int status;
        std::vector<std::string> headers;
    };
    std::mutex mutex_;
    std::deque<Answer> answers_;
};

}  // namespace s3db::test
