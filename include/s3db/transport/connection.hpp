#pragma once
// Connection strings, in the forms s3db.js accepts:
//   s3://KEY:SECRET@bucket/prefix?region=eu-west-1&sessionToken=...   AWS, virtual-hosted addressing
//   http(s)://KEY:SECRET@host:port/bucket/prefix                     any S3 endpoint, path-style
//   memory://bucket/prefix                                           in-process store shared by name
//   file:///absolute/path   file://./relative/path                   local filesystem store
// Credentials in the URL are percent-decoded; without them the usual chain applies (environment,
// then ~/.aws/credentials). A userinfo part is recognised by its "KEY:SECRET@" shape, up to the last
// '@', so a secret holding '/', '@' or '?' works even when it is not percent-encoded. NUL, raw or
// as %00, is refused anywhere (a path would be cut at it), and no error message shows any part of
// what comes before the last '@'.

#include <optional>
#include <string>
#include <string_view>

#include "s3db/detail/config.hpp"
#include "s3db/errors.hpp"
#include "s3db/detail/encoding.hpp"

namespace s3db {

struct ConnectionString {
    enum class Kind { memory, filesystem, s3 };
    Kind kind = Kind::memory;
    std::string bucket;     // memory and s3
    std::string prefix;     // key prefix inside the bucket
    std::string path;       // filesystem root
    std::string endpoint;   // s3: "" for AWS, else scheme://host[:port]
    std::string region;     // s3: from ?region=, else resolved later
    std::string access_key_id, secret_access_key, session_token;
    std::optional<bool> path_style;

    /// The URL with everything before its last '@' (any userinfo, whatever it holds) and the
    /// session token replaced, safe to print.
    S3DB_DECL static std::string redact(std::string_view url);

    S3DB_DECL static ConnectionString parse(std::string_view url);

private:
    /// A host name, an IPv4 address or a bracketed IPv6 one, then an optional port (checked apart).
    template <class Fail>
    static void check_host(std::string_view host, Fail& fail) {
        std::string_view name = host;
        if (name.starts_with('[')) {
            auto close = name.find(']');
            if (close == std::string_view::npos || name.substr(1, close - 1).find_first_not_of("0123456789abcdefABCDEF:.") != std::string_view::npos)
                throw fail("malformed IPv6 address in the host");
            name = name.substr(close + 1);
            if (!name.empty() && name.front() != ':') throw fail("malformed host");
            return;
        }
        name = name.substr(0, name.rfind(':'));
        if (name.empty() || name.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-_") != std::string_view::npos)
            throw fail("the host may hold letters, digits, '.', '-' and '_' only");
    }

    /// Bucket names: S3's characters (upper case and '_' too, which older buckets and other
    /// servers allow) and at most 255 bytes, so nothing else reaches a URL or a path.
    template <class Fail>
    static void check_bucket(const std::string& bucket, Fail& fail) {
        if (bucket.size() > 255) throw fail("the bucket name is " + std::to_string(bucket.size()) + " bytes, over 255");
        if (bucket.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-_") != std::string::npos)
            throw fail("a bucket name holds letters, digits, '.', '-' and '_' only");
    }

    template <class Fail>
    static std::string decode(std::string_view s, Fail& fail, const char* what) {
        auto d = detail::uri_decode(s);
        if (!d) throw fail(std::string("malformed percent-encoding in the ") + what);
        // %00 would cut a path short where the system reads it (file://.../a%00b opened .../a)
        if (d->find('\0') != std::string::npos) throw fail(std::string("%00 (NUL) is not allowed in the ") + what);
        return *d;
    }

    template <class Fail>
    static void read_query(std::string_view query, ConnectionString& c, Fail& fail) {
        while (!query.empty()) {
            auto amp = query.find('&');
            auto item = query.substr(0, amp);
            query = amp == std::string_view::npos ? std::string_view{} : query.substr(amp + 1);
            if (item.empty()) continue;
            auto eq = item.find('=');
            std::string name = InvalidKey::printable(std::string(item.substr(0, eq)));
            std::string value = eq == std::string_view::npos ? std::string{} : decode(item.substr(eq + 1), fail, "query");
            if (c.kind == Kind::s3 && name == "region") {
                if (value.empty() || value.find_first_not_of("abcdefghijklmnopqrstuvwxyz0123456789-") != std::string::npos)
                    throw fail("region must be a region name such as eu-west-1");
                c.region = value;
            }
            else if (c.kind == Kind::s3 && name == "sessionToken") c.session_token = value;
            else if (c.kind == Kind::s3 && name == "forcePathStyle") {
                if (value != "true" && value != "false") throw fail("forcePathStyle must be true or false");
                c.path_style = value == "true";
            } else {
                throw fail("unknown parameter '" + name + "'");
            }
        }
    }
};

}  // namespace s3db

#if S3DB_DEFINE_BODIES
#include <charconv>

namespace s3db {

S3DB_DECL std::string ConnectionString::redact(std::string_view url) {
    std::string out(url);
    auto scheme = out.find("://");
    const std::size_t start = scheme == std::string::npos ? 0 : scheme + 3;
    if (auto at = out.rfind('@'); at != std::string::npos && at >= start) out.replace(start, at - start, "****");
    if (auto t = out.find("sessionToken="); t != std::string::npos) {
        auto end = out.find('&', t);
        out.replace(t + 13, (end == std::string::npos ? out.size() : end) - t - 13, "****");
    }
    return InvalidKey::printable(out);
}

S3DB_DECL ConnectionString ConnectionString::parse(std::string_view url) {
    auto fail = [&](const std::string& why) -> ConfigError {
        return ConfigError("connection string '" + redact(url) + "': " + why);
    };
    if (url.find('\0') != std::string_view::npos) throw fail("it contains a NUL character");
    auto sep = url.find("://");
    if (sep == std::string_view::npos || sep == 0) throw fail("expected scheme://..., e.g. memory://bucket");
    std::string scheme(url.substr(0, sep));
    for (auto& c : scheme) c = static_cast<char>(c >= 'A' && c <= 'Z' ? c + 32 : c);
    std::string_view rest = url.substr(sep + 3), query;

    ConnectionString c;
    // userinfo: "KEY:SECRET@" up to the last '@' (a secret may hold '@', '/' and '?'), when the
    // part before it has a ':' and a key without '/' or '?' (else the '@' is in a path or query)
    if (scheme != "file" && scheme != "memory") {
        if (auto at = rest.rfind('@'); at != std::string_view::npos) {
            auto userinfo = rest.substr(0, at);
            auto colon = userinfo.find(':');
            if (colon != std::string_view::npos && userinfo.substr(0, colon).find_first_of("/?") == std::string_view::npos) {
                c.access_key_id = decode(userinfo.substr(0, colon), fail, "credentials");
                c.secret_access_key = decode(userinfo.substr(colon + 1), fail, "credentials");
                if (c.access_key_id.empty() || c.secret_access_key.empty())
                    throw fail("credentials must be KEY:SECRET, both non-empty");
                rest = rest.substr(at + 1);
            }
        }
    }
    if (auto q = rest.find('?'); q != std::string_view::npos) {
        query = rest.substr(q + 1);
        rest = rest.substr(0, q);
    }

    if (scheme == "file") {
        c.kind = Kind::filesystem;
        c.path = decode(rest, fail, "path");
        if (c.path.empty()) throw fail("file:// needs a path: file:///absolute or file://./relative");
        read_query(query, c, fail);
        return c;
    }

    auto slash = rest.find('/');
    std::string_view host = rest.substr(0, slash);
    std::string_view path = slash == std::string_view::npos ? std::string_view{} : rest.substr(slash + 1);

    if (scheme == "memory" || scheme == "s3") {
        c.kind = scheme == "memory" ? Kind::memory : Kind::s3;
        c.bucket = decode(host, fail, "bucket");
        if (c.bucket.empty()) {
            if (c.kind == Kind::s3) throw fail("s3:// needs a bucket: s3://KEY:SECRET@bucket/prefix");
            c.bucket = "s3db";
        }
        c.prefix = decode(path, fail, "prefix");
    } else if (scheme == "http" || scheme == "https") {
        c.kind = Kind::s3;
        if (host.empty()) throw fail("missing host");
        check_host(host, fail);
        if (auto colon = host.rfind(':'); colon != std::string_view::npos && host.find(']') == std::string_view::npos) {
            auto port = host.substr(colon + 1);
            unsigned value = 0;
            auto [p, ec] = std::from_chars(port.data(), port.data() + port.size(), value);
            if (port.empty() || ec != std::errc{} || p != port.data() + port.size() || value == 0 || value > 65535)
                throw fail("port '" + InvalidKey::printable(std::string(port)) + "' is not a number from 1 to 65535");
        }
        c.endpoint = scheme + "://" + std::string(host);
        c.path_style = true;
        auto bucket_end = path.find('/');
        c.bucket = decode(path.substr(0, bucket_end), fail, "bucket");
        if (c.bucket.empty()) c.bucket = "s3db";
        if (bucket_end != std::string_view::npos) c.prefix = decode(path.substr(bucket_end + 1), fail, "prefix");
    } else {
        // The scheme is shown only when it looks like one: the text before "://" is arbitrary.
        bool plain = scheme.size() <= 16 && scheme.find_first_not_of("abcdefghijklmnopqrstuvwxyz0123456789+-.") == std::string::npos;
        throw fail((plain ? "unknown scheme '" + scheme + "'" : std::string("unknown scheme")) +
                   " (use s3, http, https, memory or file)");
    }
    check_bucket(c.bucket, fail);
    // S3 keys are at most 1024 bytes: under a longer prefix no record could be stored.
    if (c.prefix.size() >= 1000)
        throw fail("the key prefix is " + std::to_string(c.prefix.size()) + " bytes; S3 keys hold at most 1024");
    read_query(query, c, fail);
    return c;
}

}  // namespace s3db
#endif  // S3DB_DEFINE_BODIES
