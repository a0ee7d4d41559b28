// The filesystem store reads object files that anything with access to the folder may have
// written or cut short: an object file holding any bytes is read as an object or refused with a
// TransportError, never read out of bounds or trusted for sizes it does not have.
//
// The input is written as the file of key "k" (k.obj in the store's folder) and read back through
// the store: head, get (whole and a range), list, and copy to another key.

#include <fcntl.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <string_view>

#include "s3db/transport/filesystem.hpp"

namespace {

struct Store {
    std::filesystem::path root;
    s3db::Filesystem fs;

    static std::filesystem::path make_root() {
        std::string dir = (std::filesystem::temp_directory_path() / "s3db-fuzz-fs-XXXXXX").string();
        if (!::mkdtemp(dir.data())) std::abort();
        return dir;
    }
    Store() : root(make_root()), fs({.root = root, .durable = false}) {}
    ~Store() {
        std::error_code ec;
        std::filesystem::remove_all(root, ec);
    }
};

Store& store() {
    static Store s;
    return s;
}

void write_file(const std::filesystem::path& path, std::string_view bytes) {
    int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) std::abort();
    while (!bytes.empty()) {
        ssize_t w = ::write(fd, bytes.data(), bytes.size());
        if (w <= 0) std::abort();
        bytes.remove_prefix(static_cast<std::size_t>(w));
    }
    ::close(fd);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    auto& s = store();
    write_file(s.root / "k.obj", std::string_view(reinterpret_cast<const char*>(data), size));

    std::optional<s3db::ObjectInfo> info;
    try {
        info = s.fs.head("k");
    } catch (const s3db::TransportError&) {
    }
    try {
        auto object = s.fs.get("k");
        if (!object) std::abort();  // the file is there
        if (!info || object->info.size != info->size || object->body.size() != info->size || object->info.etag != info->etag)
            std::abort();  // head and get read the same header
        if (object->body.size() >= 2) {
            auto part = s.fs.get("k", {.range = s3db::ByteRange::between(1, 1)});
            if (!part || part->body != object->body.substr(1, 1)) std::abort();
        }
        s.fs.copy("k", "c");
        auto copied = s.fs.get("c");
        if (!copied || copied->body != object->body || copied->info.metadata != object->info.metadata) std::abort();
        s.fs.remove("c");
    } catch (const s3db::TransportError&) {
    }
    try {
        (void)s.fs.list();
    } catch (const s3db::TransportError&) {
    }
    return 0;
}
