#pragma once
// Calls s3db.js 21.6.2 from C++ tests and benchmarks: each call runs one command through
// tests/interop/s3dbjs.mjs (its header documents the JSON protocol) in a child node process.
// Starting node costs seconds: send many commands at once as one {"op":"batch","commands":[...]}.
// node and the npm packages come from ./tests/run.sh (npm ci --prefix tests/interop).

#include <nlohmann/json.hpp>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <string>
#include <sys/wait.h>
#include <unistd.h>

namespace s3db::test {

/// A command s3dbjs.mjs rejected or s3db.js failed; name() is the JS error name ("UsageError",
/// "InvalidResourceItem", "ResourceError", ...).
class S3dbJsError : public std::runtime_error {
public:
    S3dbJsError(std::string name, const std::string& message)
        : std::runtime_error(name + ": " + message), name_(std::move(name)) {}
    const std::string& name() const noexcept { return name_; }

private:
    std::string name_;
};

/// tests/interop: where s3dbjs.mjs and its node_modules are.
inline std::filesystem::path s3dbjs_dir() {
#ifdef S3DB_INTEROP_DIR
    return S3DB_INTEROP_DIR;
#else
    return std::filesystem::path(__FILE__).parent_path();
#endif
}

namespace detail {

inline std::string shell_quote(const std::string& s) {
    std::string out = "'";
    for (char c : s) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
    return out + "'";
}

inline std::string read_file(const std::filesystem::path& p) {
    std::ifstream in(p, std::ios::binary);
    std::ostringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

/// Removes its files however the call ends.
struct TempFiles {
    std::filesystem::path in, err;
    TempFiles() {
        auto base = std::filesystem::temp_directory_path() / "s3dbjs-XXXXXX";
        std::string pattern = base.string();
        int fd = ::mkstemp(pattern.data());
        if (fd < 0) throw std::runtime_error("s3dbjs: cannot create a temporary file");
        ::close(fd);
        in = pattern;
        err = pattern + ".err";
    }
    ~TempFiles() {
        std::error_code ec;
        std::filesystem::remove(in, ec);
        std::filesystem::remove(err, ec);
    }
};

/// The node to run: $S3DB_NODE, else `node` from PATH.
inline std::string node_program() {
    const char* n = std::getenv("S3DB_NODE");
    return n && *n ? n : "node";
}

/// Fails with the fix to apply when node or the npm packages are missing.
inline void check_installed() {
    static const bool ok = [] {
        auto cmd = shell_quote(node_program()) + " --version >/dev/null 2>&1";
        if (std::system(cmd.c_str()) != 0) {
            throw std::runtime_error("s3dbjs: `" + node_program() +
                                     "` does not run: install Node.js, or run ./tests/run.sh, which does");
        }
        auto pkg = s3dbjs_dir() / "node_modules" / "s3db.js" / "package.json";
        if (!std::filesystem::exists(pkg) ||
            nlohmann::json::parse(read_file(pkg)).value("version", "") != "21.6.2") {
            throw std::runtime_error("s3dbjs: s3db.js 21.6.2 is not installed in " + s3dbjs_dir().string() +
                                     ": run ./tests/run.sh (it runs npm ci --prefix tests/interop)");
        }
        return true;
    }();
    (void)ok;
}

}  // namespace detail

/// Runs one command and returns its result. Throws S3dbJsError when s3db.js or the CLI reports an
/// error, std::runtime_error when node cannot be run or answers garbage, or after timeout_s.
/// Both are ordered_json because order is data here: s3db.js numbers attributes in the order of
/// their definition, and nlohmann::json would sort them by name.
inline nlohmann::ordered_json s3dbjs(const nlohmann::ordered_json& command, int timeout_s = 300) {
    detail::check_installed();
    detail::TempFiles files;
    {
        std::ofstream(files.in, std::ios::binary) << command.dump();
    }
    std::string cmd = "timeout " + std::to_string(timeout_s) + " " + detail::shell_quote(detail::node_program()) +
                      " " + detail::shell_quote((s3dbjs_dir() / "s3dbjs.mjs").string()) + " < " +
                      detail::shell_quote(files.in.string()) + " 2> " + detail::shell_quote(files.err.string());
    std::string out;
    FILE* pipe = ::popen(cmd.c_str(), "r");
    if (!pipe) throw std::runtime_error("s3dbjs: popen failed");
    char buf[65536];
    for (std::size_t n; (n = std::fread(buf, 1, sizeof buf, pipe)) > 0;) out.append(buf, n);
    int status = ::pclose(pipe);
    int code = status == -1 ? -1 : WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    // The command holds credentials, so no message below repeats it; "op" says which call it was.
    std::string op = command.value("op", "?");
    if (code == 0) {
        try {
            return nlohmann::ordered_json::parse(out);
        } catch (const nlohmann::json::exception&) {
            throw std::runtime_error("s3dbjs " + op + ": stdout is not one JSON value: " + out.substr(0, 500));
        }
    }
    if (code == 124) throw std::runtime_error("s3dbjs " + op + ": no answer in " + std::to_string(timeout_s) + " s");
    std::string err = detail::read_file(files.err);
    while (!err.empty() && (err.back() == '\n' || err.back() == '\r')) err.pop_back();
    auto last = err.substr(err.find_last_of('\n') == std::string::npos ? 0 : err.find_last_of('\n') + 1);
    auto parsed = nlohmann::json::parse(last, nullptr, false);
    if (parsed.is_object() && parsed.contains("error")) {
        const auto& e = parsed["error"];
        throw S3dbJsError(e.value("name", "Error"), e.value("message", ""));
    }
    throw std::runtime_error("s3dbjs " + op + ": exit status " + std::to_string(code) + ": " + err.substr(0, 2000));
}

}  // namespace s3db::test
