#pragma once
// AWS credentials, region and endpoint, resolved the way the AWS CLI and SDKs do: an explicit value,
// then the environment, then the shared files (~/.aws/credentials, ~/.aws/config). Nothing here ever
// prints, logs or puts into an error message a secret key or a session token.

#include <map>
#include <optional>
#include <ostream>
#include <string>
#include <string_view>
#include <utility>

#include "s3db/detail/config.hpp"
#include "s3db/errors.hpp"

namespace s3db {

/// An access key pair, with the session token of temporary credentials (empty otherwise).
struct Credentials {
    std::string access_key_id;
    std::string secret_access_key;
    std::string session_token;

    /// Neither an access key id nor a secret: "no credentials given".
    bool empty() const noexcept { return access_key_id.empty() && secret_access_key.empty(); }
    /// Both halves of the key pair are present (the session token is optional).
    bool complete() const noexcept { return !access_key_id.empty() && !secret_access_key.empty(); }

    /// The access key id only; the secret and the token are shown as redacted.
    S3DB_DECL std::string to_string() const;
    friend std::ostream& operator<<(std::ostream& os, const Credentials& c) { return os << c.to_string(); }
};

// Nested so these small helpers cannot collide with same-named ones in other detail headers.
namespace detail::aws_files {

/// The value of an environment variable, treating set-but-empty as unset (as the AWS SDKs do).
S3DB_DECL std::optional<std::string> env(const char* name);

S3DB_DECL std::string_view trim(std::string_view s) noexcept;

S3DB_DECL std::string ascii_lower(std::string_view s);

using IniSection = std::map<std::string, std::string, std::less<>>;

/// Parses the AWS shared-file dialect of INI: `[section]` headers, `key = value` lines, comment lines
/// starting with `#` or `;`, inline comments only after whitespace (so a secret containing `#` survives),
/// CRLF line ends, a UTF-8 BOM, and indented lines that continue a nested property (`s3 =` followed
/// by `  addressing_style = path`) which are skipped. Keys are lowercased; repeated sections merge.
S3DB_DECL std::map<std::string, IniSection, std::less<>> parse_ini(std::string_view text);

/// The whole file, or nullopt when it cannot be opened (a missing file is not an error).
S3DB_DECL std::optional<std::string> read_text_file(const std::string& path);

S3DB_DECL std::string home_file(const char* relative);

S3DB_DECL std::string profile_name(std::string profile);

S3DB_DECL std::string credentials_file_path(std::string file);

S3DB_DECL std::string config_file_path();

}  // namespace detail::aws_files

/// AWS_ACCESS_KEY_ID + AWS_SECRET_ACCESS_KEY (+ AWS_SESSION_TOKEN), or nullopt when neither is set.
/// Throws ConfigError when only one of the pair is set: silently falling back to a profile would sign
/// as a different identity than the one the environment names.
S3DB_DECL std::optional<Credentials> credentials_from_environment();

/// The profile's keys from the shared credentials file; nullopt when the file or the profile is
/// missing. profile: argument, else AWS_PROFILE, else "default". file: argument, else
/// AWS_SHARED_CREDENTIALS_FILE, else $HOME/.aws/credentials. Throws ConfigError (naming the file,
/// the profile and the missing key, never a value) when the profile has only half a key pair.
S3DB_DECL std::optional<Credentials> credentials_from_profile(std::string profile = {}, std::string file = {});

/// The credential chain: explicit (when not empty) → environment → shared credentials file.
/// Throws ConfigError listing the variables and the file it looked at when nothing is found.
S3DB_DECL Credentials resolve_credentials(const std::optional<Credentials>& explicit_creds = std::nullopt);

/// Region: argument → AWS_REGION → AWS_DEFAULT_REGION → `region` of the profile in the config file
/// (AWS_CONFIG_FILE or ~/.aws/config; `[profile X]`, or `[default]` for the default profile) → us-east-1.
S3DB_DECL std::string resolve_region(std::string_view explicit_region = {});

/// Endpoint: argument → AWS_ENDPOINT_URL_S3 → AWS_ENDPOINT_URL → "" (meaning AWS itself).
S3DB_DECL std::string resolve_endpoint(std::string_view explicit_endpoint = {});

}  // namespace s3db

#if S3DB_DEFINE_BODIES
#include <cstdlib>
#include <fstream>
#include <sstream>

namespace s3db {

S3DB_DECL std::string Credentials::to_string() const {
    std::string s = "Credentials{access_key_id: " + (access_key_id.empty() ? "<none>" : access_key_id);
    s += secret_access_key.empty() ? ", secret: <none>" : ", secret: <redacted>";
    if (!session_token.empty()) s += ", session_token: <redacted>";
    return s + "}";
}

namespace detail::aws_files {

S3DB_DECL std::optional<std::string> env(const char* name) {
    const char* v = std::getenv(name);
    if (!v || !*v) return std::nullopt;
    return std::string(v);
}

S3DB_DECL std::string_view trim(std::string_view s) noexcept {
    constexpr std::string_view ws = " \t\r\n\f\v";
    auto b = s.find_first_not_of(ws);
    if (b == std::string_view::npos) return {};
    return s.substr(b, s.find_last_not_of(ws) - b + 1);
}

S3DB_DECL std::string ascii_lower(std::string_view s) {
    std::string out(s);
    for (char& c : out)
        if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    return out;
}

S3DB_DECL std::map<std::string, IniSection, std::less<>> parse_ini(std::string_view text) {
    std::map<std::string, IniSection, std::less<>> sections;
    if (text.substr(0, 3) == "\xEF\xBB\xBF") text.remove_prefix(3);
    IniSection* current = nullptr;
    bool after_property = false;
    while (!text.empty()) {
        auto nl = text.find('\n');
        std::string_view raw = text.substr(0, nl);
        text.remove_prefix(nl == std::string_view::npos ? text.size() : nl + 1);
        if (!raw.empty() && raw.back() == '\r') raw.remove_suffix(1);
        std::string_view line = trim(raw);
        if (line.empty() || line.front() == '#' || line.front() == ';') continue;
        if (line.front() == '[') {
            auto close = line.find(']');
            if (close == std::string_view::npos) {
                current = nullptr;  // malformed header: ignore its properties rather than misfile them
                continue;
            }
            current = &sections[std::string(trim(line.substr(1, close - 1)))];
            after_property = false;
            continue;
        }
        if (!current) continue;
        bool indented = raw.front() == ' ' || raw.front() == '\t';
        if (indented && after_property) continue;  // a nested sub-property, not one of ours
        auto eq = line.find('=');
        if (eq == std::string_view::npos) continue;
        std::string_view value = trim(line.substr(eq + 1));
        for (std::size_t i = 1; i < value.size(); ++i) {
            if ((value[i] == '#' || value[i] == ';') && (value[i - 1] == ' ' || value[i - 1] == '\t')) {
                value = trim(value.substr(0, i));
                break;
            }
        }
        (*current)[ascii_lower(trim(line.substr(0, eq)))] = std::string(value);
        after_property = true;
    }
    return sections;
}

S3DB_DECL std::optional<std::string> read_text_file(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) return std::nullopt;
    std::ostringstream ss;
    ss << in.rdbuf();
    return std::move(ss).str();
}

S3DB_DECL std::string home_file(const char* relative) {
    auto home = env("HOME");
    return home ? *home + "/" + relative : std::string{};
}

S3DB_DECL std::string profile_name(std::string profile) {
    if (!profile.empty()) return profile;
    return env("AWS_PROFILE").value_or("default");
}

S3DB_DECL std::string credentials_file_path(std::string file) {
    if (!file.empty()) return file;
    if (auto f = env("AWS_SHARED_CREDENTIALS_FILE")) return *f;
    return home_file(".aws/credentials");
}

S3DB_DECL std::string config_file_path() {
    if (auto f = env("AWS_CONFIG_FILE")) return *f;
    return home_file(".aws/config");
}

}  // namespace detail::aws_files

S3DB_DECL std::optional<Credentials> credentials_from_environment() {
    auto id = detail::aws_files::env("AWS_ACCESS_KEY_ID");
    auto secret = detail::aws_files::env("AWS_SECRET_ACCESS_KEY");
    if (!id && !secret) return std::nullopt;
    if (!id) throw ConfigError("AWS_SECRET_ACCESS_KEY is set but AWS_ACCESS_KEY_ID is not");
    if (!secret) throw ConfigError("AWS_ACCESS_KEY_ID is set but AWS_SECRET_ACCESS_KEY is not");
    return Credentials{std::move(*id), std::move(*secret), detail::aws_files::env("AWS_SESSION_TOKEN").value_or("")};
}

S3DB_DECL std::optional<Credentials> credentials_from_profile(std::string profile, std::string file) {
    profile = detail::aws_files::profile_name(std::move(profile));
    file = detail::aws_files::credentials_file_path(std::move(file));
    if (file.empty()) return std::nullopt;
    auto text = detail::aws_files::read_text_file(file);
    if (!text) return std::nullopt;
    auto sections = detail::aws_files::parse_ini(*text);
    auto it = sections.find(profile);
    if (it == sections.end()) return std::nullopt;
    auto get = [&](std::string_view key) {
        auto v = it->second.find(key);
        return v == it->second.end() ? std::string{} : v->second;
    };
    Credentials c{get("aws_access_key_id"), get("aws_secret_access_key"), get("aws_session_token")};
    if (c.session_token.empty()) c.session_token = get("aws_security_token");  // the older name
    if (c.empty()) return std::nullopt;  // e.g. a profile that only assumes a role
    if (!c.complete())
        throw ConfigError("profile '" + profile + "' in " + file + " has " +
                          (c.access_key_id.empty() ? "aws_secret_access_key but no aws_access_key_id"
                                                   : "aws_access_key_id but no aws_secret_access_key"));
    return c;
}

S3DB_DECL Credentials resolve_credentials(const std::optional<Credentials>& explicit_creds) {
    if (explicit_creds && !explicit_creds->empty()) {
        if (!explicit_creds->complete())
            throw ConfigError(explicit_creds->access_key_id.empty()
                                  ? "explicit credentials have a secret access key but no access key id"
                                  : "explicit credentials have an access key id but no secret access key");
        return *explicit_creds;
    }
    if (auto c = credentials_from_environment()) return std::move(*c);
    if (auto c = credentials_from_profile()) return std::move(*c);
    std::string file = detail::aws_files::credentials_file_path({});
    throw ConfigError(
        "no AWS credentials found: none given explicitly, AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY are not "
        "set, and profile '" + detail::aws_files::profile_name({}) + "' has no keys in " +
        (file.empty() ? std::string("the shared credentials file (HOME and AWS_SHARED_CREDENTIALS_FILE are unset)")
                      : file));
}

S3DB_DECL std::string resolve_region(std::string_view explicit_region) {
    if (!explicit_region.empty()) return std::string(explicit_region);
    if (auto r = detail::aws_files::env("AWS_REGION")) return *r;
    if (auto r = detail::aws_files::env("AWS_DEFAULT_REGION")) return *r;
    std::string path = detail::aws_files::config_file_path();
    if (!path.empty()) {
        if (auto text = detail::aws_files::read_text_file(path)) {
            auto sections = detail::aws_files::parse_ini(*text);
            std::string profile = detail::aws_files::profile_name({});
            // In the config file only `[profile X]` names a profile; `[default]` is the one exception.
            auto it = sections.find("profile " + profile);
            if (it == sections.end() && profile == "default") it = sections.find("default");
            if (it != sections.end()) {
                auto r = it->second.find("region");
                if (r != it->second.end() && !r->second.empty()) return r->second;
            }
        }
    }
    return "us-east-1";
}

S3DB_DECL std::string resolve_endpoint(std::string_view explicit_endpoint) {
    if (!explicit_endpoint.empty()) return std::string(explicit_endpoint);
    if (auto e = detail::aws_files::env("AWS_ENDPOINT_URL_S3")) return *e;
    if (auto e = detail::aws_files::env("AWS_ENDPOINT_URL")) return *e;
    return {};
}

}  // namespace s3db
#endif  // S3DB_DEFINE_BODIES
