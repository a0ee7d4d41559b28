#pragma once
// The error hierarchy. Every message names what failed (key, resource, field, limit, HTTP status and
// S3 code) and never contains a credential or a signature.

#include <chrono>
#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace s3db {

/// Base of everything the library throws.
class Error : public std::runtime_error {
public:
    explicit Error(const std::string& message) : std::runtime_error(message) {}
};

/// A setting, URL or credential the library cannot work with (raised before any request is sent).
class ConfigError : public Error {
public:
    using Error::Error;
};

/// An object key S3 would refuse: empty, over 1024 bytes, or escaping the store.
class InvalidKey : public Error {
public:
    InvalidKey(std::string key, const std::string& why)
        : Error("invalid key '" + printable(key) + "': " + why), key_(std::move(key)) {}
    const std::string& key() const noexcept { return key_; }

    /// Keys may hold anything; error messages only show a bounded, printable rendering.
    static std::string printable(const std::string& key) {
        std::string out;
        for (char c : key.substr(0, 200)) {
            auto u = static_cast<unsigned char>(c);
            if (u < 0x20 || u == 0x7f) {
                static constexpr char hex[] = "0123456789abcdef";
                out += "\\x";
                out += hex[u >> 4];
                out += hex[u & 15];
            } else {
                out += c;
            }
        }
        if (key.size() > 200) out += "...(" + std::to_string(key.size()) + " bytes)";
        return out;
    }

private:
    std::string key_;
};

/// What a store answered, or why no answer came. `status` is 0 when no HTTP response arrived
/// (connection reset, timeout, DNS); `code` is the S3 error code (`NoSuchKey`, `SlowDown`, ...).
class TransportError : public Error {
public:
    struct Details {
        int status = 0;
        std::string code;
        std::string request_id;
        std::string key;
        bool retryable = false;
        std::optional<std::chrono::milliseconds> retry_after{};
    };

    TransportError(const std::string& what, Details details)
        : Error(compose(what, details)), details_(std::move(details)) {}

    int status() const noexcept { return details_.status; }
    const std::string& code() const noexcept { return details_.code; }
    const std::string& request_id() const noexcept { return details_.request_id; }
    const std::string& key() const noexcept { return details_.key; }
    bool retryable() const noexcept { return details_.retryable; }
    std::optional<std::chrono::milliseconds> retry_after() const noexcept { return details_.retry_after; }
    const Details& details() const noexcept { return details_; }

private:
    static std::string compose(const std::string& what, const Details& d) {
        std::string m = what;
        if (!d.key.empty()) m += " (key '" + InvalidKey::printable(d.key) + "')";
        if (d.status != 0) m += " [HTTP " + std::to_string(d.status);
        else m += " [no response";
        if (!d.code.empty()) m += " " + d.code;
        if (!d.request_id.empty()) m += ", request id " + d.request_id;
        m += "]";
        return m;
    }
    Details details_;
};

/// The key does not exist (404 NoSuchKey), where the operation needs it to.
class NotFound : public TransportError {
public:
    explicit NotFound(const std::string& key, std::string request_id = {})
        : TransportError("object not found", {404, "NoSuchKey", std::move(request_id), key, false}) {}
};

/// An `If-Match` / `If-None-Match` condition did not hold (412).
class PreconditionFailed : public TransportError {
public:
    explicit PreconditionFailed(const std::string& key, std::string request_id = {}, bool after_unanswered = false)
        : TransportError(after_unanswered ? "precondition failed after an unanswered attempt" : "precondition failed",
                         {412, "PreconditionFailed", std::move(request_id), key, false}),
          after_unanswered_(after_unanswered) {}

    /// An earlier attempt of the same write got no answer: this 412 may be that attempt, applied.
    /// Only the writer can tell (see Resource's write tokens); a plain 412 means "not applied".
    bool after_unanswered_attempt() const noexcept { return after_unanswered_; }

private:
    bool after_unanswered_ = false;
};

/// A write whose outcome the store cannot tell: an attempt got no answer and what is stored now
/// neither shows it applied nor proves it was not. The write may have been applied once, or not
/// at all (never twice); read the record to see. `cause()` is what the last attempt met.
class OutcomeUnknown : public Error {
public:
    OutcomeUnknown(const std::string& resource, const std::string& id, const std::string& operation, const std::string& cause)
        : Error(operation + " of record '" + InvalidKey::printable(id) + "' of resource '" + resource +
                "': outcome unknown (applied once or not at all): " + cause),
          cause_(cause) {}
    const std::string& cause() const noexcept { return cause_; }

private:
    std::string cause_;
};

/// A conditional GET whose `If-None-Match` matched (304): the caller's copy is current.
class NotModified : public TransportError {
public:
    explicit NotModified(const std::string& key)
        : TransportError("not modified", {304, "NotModified", {}, key, false}) {}
};

/// An object the store holds but cannot hand back whole: a truncated or garbled object file.
class CorruptObject : public TransportError {
public:
    CorruptObject(const std::string& what, const std::string& key)
        : TransportError(what, {0, "InternalError", {}, key, false}) {}
};

/// A PUT's storage class (`PutOptions::storage_class`) that the store refuses: AWS's 400
/// InvalidStorageClass, Ceph RGW's 400 InvalidArgument to a PUT naming a class its placement
/// target lacks (`code()` keeps the server's), or a name that is not a storage class at all
/// (checked before sending). Nothing is stored.
class InvalidStorageClass : public TransportError {
public:
    InvalidStorageClass(const std::string& key, std::string storage_class, const std::string& why, std::string request_id = {},
                        std::string code = "InvalidStorageClass")
        : TransportError("storage class '" + InvalidKey::printable(storage_class) + "' refused: " + why,
                         {400, std::move(code), std::move(request_id), key, false}),
          storage_class_(std::move(storage_class)) {}
    const std::string& storage_class() const noexcept { return storage_class_; }

private:
    std::string storage_class_;
};

/// User metadata over the store's limit (AWS: 2 KB, keys plus values, UTF-8 bytes). Nothing is stored.
class MetadataTooLarge : public TransportError {
public:
    MetadataTooLarge(const std::string& key, std::size_t size, std::size_t limit)
        : TransportError("user metadata is " + std::to_string(size) + " bytes, over the limit of " +
                             std::to_string(limit) + " bytes",
                         {400, "MetadataTooLarge", {}, key, false}),
          size_(size), limit_(limit) {}
    std::size_t size() const noexcept { return size_; }
    std::size_t limit() const noexcept { return limit_; }

private:
    std::size_t size_, limit_;
};

/// A range the object cannot satisfy (416).
class InvalidRange : public TransportError {
public:
    explicit InvalidRange(const std::string& key)
        : TransportError("requested range not satisfiable", {416, "InvalidRange", {}, key, false}) {}
};

/// Credentials refused (403 AccessDenied, SignatureDoesNotMatch, InvalidAccessKeyId).
class AccessDenied : public TransportError {
public:
    using TransportError::TransportError;
};

/// The bucket does not exist (404 NoSuchBucket).
class NoSuchBucket : public TransportError {
public:
    using TransportError::TransportError;
};

/// A record that breaks its resource's schema. Holds every failing field, not just the first.
/// Values of `secret` fields are never shown.
class ValidationError : public Error {
public:
    struct Failure {
        std::string field;     // dotted path, `[i]` for array items: "profile.city", "tags[1]"
        std::string rule;      // fastest-validator's rule name: "required", "stringMin", "numberInteger", ...
        std::string value;     // the offending value as JSON (bounded), "<secret>" for secrets, "" if absent
        std::string expected;  // the rule's bound or allowed values, "" when the rule has none
        std::string message;   // one readable sentence
    };

    explicit ValidationError(std::vector<Failure> failures, const std::string& context = {})
        : Error(compose(failures, context)), failures_(std::move(failures)) {}

    const std::vector<Failure>& failures() const noexcept { return failures_; }

private:
    static std::string compose(const std::vector<Failure>& failures, const std::string& context) {
        std::string m = context.empty() ? std::string("validation failed") : "validation failed for " + context;
        m += " (" + std::to_string(failures.size()) + (failures.size() == 1 ? " problem)" : " problems)");
        std::size_t shown = 0;
        for (const auto& f : failures) {
            if (shown++ == 20) {
                m += "; ...";
                break;
            }
            m += shown == 1 ? ": " : "; ";
            m += f.message;
        }
        return m;
    }
    std::vector<Failure> failures_;
};

/// An attribute definition the library cannot use: unknown type, malformed or unknown modifier.
class SchemaError : public Error {
public:
    SchemaError(std::string attribute, std::string token, const std::string& why)
        : Error("attribute '" + InvalidKey::printable(attribute) + "': " + why +
                (token.empty() ? "" : " ('" + InvalidKey::printable(token) + "')")),
          attribute_(std::move(attribute)), token_(std::move(token)) {}
    const std::string& attribute() const noexcept { return attribute_; }
    const std::string& token() const noexcept { return token_; }

private:
    std::string attribute_, token_;
};

/// An error about one record: its resource, its id and why.
class RecordError : public Error {
public:
    const std::string& resource() const noexcept { return resource_; }
    const std::string& id() const noexcept { return id_; }
    const std::string& reason() const noexcept { return reason_; }

protected:
    RecordError(const std::string& message, const std::string& resource, const std::string& id, const std::string& reason)
        : Error(message), resource_(resource), id_(id), reason_(reason) {}

private:
    std::string resource_, id_, reason_;
};

/// A record id the library will not store: empty, a character s3db.js refuses or S3 listings cannot
/// carry, or so long that the record key would pass S3's 1024-byte limit.
class InvalidId : public RecordError {
public:
    InvalidId(std::string resource, std::string id, std::string reason)
        : RecordError("invalid id '" + InvalidKey::printable(id) + "' for resource '" + resource + "': " + reason,
                      resource, id, reason) {}
};

/// A partition definition or query the library cannot use: malformed definition, unknown partition,
/// a field that is not an attribute. `field` is empty when the problem is the partition itself.
class PartitionError : public ConfigError {
public:
    PartitionError(std::string resource, std::string partition, std::string field, const std::string& why)
        : ConfigError(compose(resource, partition, field, why)), resource_(std::move(resource)),
          partition_(std::move(partition)), field_(std::move(field)) {}
    const std::string& resource() const noexcept { return resource_; }
    const std::string& partition() const noexcept { return partition_; }
    const std::string& field() const noexcept { return field_; }

private:
    static std::string compose(const std::string& resource, const std::string& partition, const std::string& field,
                               const std::string& why) {
        std::string m = "resource '" + resource + "'";
        if (!partition.empty()) m += ", partition '" + InvalidKey::printable(partition) + "'";
        if (!field.empty()) m += ", field '" + InvalidKey::printable(field) + "'";
        return m + ": " + why;
    }
    std::string resource_, partition_, field_;
};

/// A record whose metadata is over its resource's limit where the behavior refuses to shrink it
/// (`enforce-limits`). Raised before any request is sent. `size` and `limit` are s3db.js's measure
/// (`calculateTotalSize` against the effective limit: 2047 bytes less `_v`, timestamps and id).
class RecordTooLarge : public Error {
public:
    RecordTooLarge(std::string resource, std::string id, std::size_t size, std::int64_t limit)
        : Error("record '" + InvalidKey::printable(id) + "' of resource '" + resource + "' needs " +
                std::to_string(size) + " bytes of metadata, over the limit of " + std::to_string(limit) + " bytes"),
          resource_(std::move(resource)), id_(std::move(id)), size_(size), limit_(limit) {}
    const std::string& resource() const noexcept { return resource_; }
    const std::string& id() const noexcept { return id_; }
    std::size_t size() const noexcept { return size_; }
    std::int64_t limit() const noexcept { return limit_; }

private:
    std::string resource_, id_;
    std::size_t size_;
    std::int64_t limit_;
};

/// A `secret` field holding ciphertext the database's passphrase does not open: a wrong passphrase,
/// or a stored value altered or cut. Reads throw it instead of returning the ciphertext, and writes
/// throw it instead of encrypting ciphertext a second time (which would lose the secret for every
/// holder of the right passphrase). `resource` and `id` are empty when the codec is used on its
/// own. The value is never shown.
class DecryptionFailed : public Error {
public:
    enum class Stage : std::uint8_t { read, write };

    DecryptionFailed(std::string resource, std::string id, std::string field, Stage stage)
        : Error(compose(resource, id, field, stage)), resource_(std::move(resource)), id_(std::move(id)),
          field_(std::move(field)), stage_(stage) {}

    const std::string& resource() const noexcept { return resource_; }
    const std::string& id() const noexcept { return id_; }
    const std::string& field() const noexcept { return field_; }
    Stage stage() const noexcept { return stage_; }

    /// The same failure, placed in its record.
    DecryptionFailed in_record(std::string resource, std::string id) const {
        return DecryptionFailed(std::move(resource), std::move(id), field_, stage_);
    }

private:
    static std::string compose(const std::string& resource, const std::string& id, const std::string& field,
                               Stage stage) {
        std::string m = "secret field '" + InvalidKey::printable(field) + "'";
        if (!id.empty()) m += " of record '" + InvalidKey::printable(id) + "'";
        if (!resource.empty()) m += " of resource '" + resource + "'";
        if (stage == Stage::read)
            return m + " does not decrypt with this database's passphrase (a wrong passphrase, or the stored "
                       "value was altered); the ciphertext is not returned";
        return m + " holds ciphertext this database's passphrase does not open; with auto_decrypt off it is "
                   "taken for a value read from the store, and is neither encrypted again nor stored as given";
    }
    std::string resource_, id_, field_;
    Stage stage_;
};

/// A stored record that cannot be read back: its object is truncated or garbled, or its key names
/// no id this library accepts. Listings skip such records (see ListQuery::strict_decoding); reads by
/// id throw this.
class CorruptRecord : public RecordError {
public:
    CorruptRecord(std::string resource, std::string id, std::string reason)
        : RecordError("record '" + InvalidKey::printable(id) + "' of resource '" + resource + "' cannot be decoded: " + reason,
                      resource, id, reason) {}
};

/// A resource s3db.json describes but this library cannot open (an unknown attribute type or
/// behavior, a broken partition definition, a malformed entry). The rest of the database works; the
/// definition is kept as it is when s3db.json is rewritten.
class ResourceUnavailable : public Error {
public:
    ResourceUnavailable(std::string resource, std::string reason)
        : Error("resource '" + resource + "' cannot be opened: " + reason), resource_(std::move(resource)),
          reason_(std::move(reason)) {}
    const std::string& resource() const noexcept { return resource_; }
    const std::string& reason() const noexcept { return reason_; }

private:
    std::string resource_, reason_;
};

/// A resource name that is not in the catalogue.
class ResourceNotFound : public Error {
public:
    explicit ResourceNotFound(const std::string& name) : Error("resource '" + name + "' does not exist") {}
};

/// A record id that is already taken (insert over an existing record).
class AlreadyExists : public Error {
public:
    AlreadyExists(const std::string& resource, const std::string& id)
        : Error("record '" + InvalidKey::printable(id) + "' of resource '" + resource + "' already exists") {}
};

/// A record that is not there, where the operation needs it.
class RecordNotFound : public Error {
public:
    RecordNotFound(const std::string& resource, const std::string& id)
        : Error("record '" + InvalidKey::printable(id) + "' of resource '" + resource + "' does not exist") {}
};

/// An update that kept losing the race with other writers for `attempts` rounds.
class UpdateConflict : public Error {
public:
    UpdateConflict(const std::string& resource, const std::string& id, int attempts)
        : Error("record '" + InvalidKey::printable(id) + "' of resource '" + resource + "' changed under " +
                std::to_string(attempts) + " update attempts in a row") {}
};

/// s3db.json cannot be read: the message names the key and what is wrong. It is never overwritten.
class CorruptMetadata : public Error {
public:
    CorruptMetadata(const std::string& key, const std::string& why)
        : Error("database catalogue '" + key + "' is corrupt: " + why + " (left untouched)") {}
};

/// A plugin's configuration refused (validate()), or a plugin asked for that is not there.
class PluginError : public Error {
public:
    PluginError(std::string_view plugin, const std::string& what)
        : Error("plugin '" + std::string(plugin) + "': " + what), plugin_(plugin) {}
    const std::string& plugin() const noexcept { return plugin_; }

private:
    std::string plugin_;
};

/// A change the Replicator could not deliver to one of its targets: which target, resource and
/// record (empty for a batch), and whether trying again may help (429, 5xx, a lost connection).
/// `failed`: when a target applied part of a batch, the indices (into the deliveries it was given)
/// of those it did not; empty means none of them can be counted as applied.
/// Never holds a target's secret or the credentials of its URL.
class ReplicationError : public Error {
public:
    ReplicationError(std::string target, std::string resource, std::string id, const std::string& what, bool retryable,
                     std::vector<std::size_t> failed = {}, std::optional<std::chrono::milliseconds> retry_after = std::nullopt)
        : Error("replication to '" + target + "'" + (resource.empty() ? std::string{} : " of '" + resource + "'") +
                (id.empty() ? std::string{} : " record '" + id + "'") + " failed: " + what),
          target_(std::move(target)), resource_(std::move(resource)), id_(std::move(id)), retryable_(retryable),
          failed_(std::move(failed)), retry_after_(retry_after) {}
    const std::string& target() const noexcept { return target_; }
    const std::string& resource() const noexcept { return resource_; }
    const std::string& id() const noexcept { return id_; }
    bool retryable() const noexcept { return retryable_; }
    const std::vector<std::size_t>& failed() const noexcept { return failed_; }
    /// How long the target asked to be left alone (HTTP Retry-After), when it did.
    std::optional<std::chrono::milliseconds> retry_after() const noexcept { return retry_after_; }

private:
    std::string target_, resource_, id_;
    bool retryable_;
    std::vector<std::size_t> failed_;
    std::optional<std::chrono::milliseconds> retry_after_;
};

/// A key, option or stored entry PluginStorage cannot work with. Names the plugin and, when there is
/// one, the key.
class PluginStorageError : public Error {
public:
    PluginStorageError(std::string plugin, std::string key, const std::string& why)
        : Error(compose(plugin, key, why)), plugin_(std::move(plugin)), key_(std::move(key)) {}
    const std::string& plugin() const noexcept { return plugin_; }
    const std::string& key() const noexcept { return key_; }

private:
    static std::string compose(const std::string& plugin, const std::string& key, const std::string& why) {
        std::string m = "plugin storage '" + InvalidKey::printable(plugin) + "'";
        if (!key.empty()) m += ", key '" + InvalidKey::printable(key) + "'";
        return m + ": " + why;
    }
    std::string plugin_, key_;
};

/// `enforce-limits` data that does not fit the metadata budget. Raised before any request is sent.
class PluginDataTooLarge : public PluginStorageError {
public:
    PluginDataTooLarge(std::string plugin, std::string key, std::size_t size, std::size_t limit)
        : PluginStorageError(std::move(plugin), std::move(key),
                             "data needs " + std::to_string(size) + " bytes of metadata, over the limit of " +
                                 std::to_string(limit) + " bytes of behavior enforce-limits"),
          size_(size), limit_(limit) {}
    std::size_t size() const noexcept { return size_; }
    std::size_t limit() const noexcept { return limit_; }

private:
    std::size_t size_, limit_;
};

/// A compare-and-swap that lost to other writers `attempts` times in a row. Nothing was written by
/// the failed call; retrying it later is safe.
class PluginStorageConflict : public PluginStorageError {
public:
    PluginStorageConflict(std::string plugin, std::string key, std::size_t attempts)
        : PluginStorageError(std::move(plugin), std::move(key),
                             "gave up after " + std::to_string(attempts) +
                                 " conditional writes lost to concurrent writers"),
          attempts_(attempts) {}
    std::size_t attempts() const noexcept { return attempts_; }

private:
    std::size_t attempts_;
};

namespace detail {
/// A pattern the JavaScript-compatible matcher (detail/regex.hpp) cannot compile; `what()` says why.
class RegexError : public Error {
public:
    using Error::Error;
};
}  // namespace detail

/// OpenSSL refused an operation s3db needs (a digest, a key derivation, a cipher): a broken or
/// restricted OpenSSL installation, not bad input.
class CryptoError : public Error {
public:
    using Error::Error;
};

/// A password hash s3db cannot check or make: not a bcrypt or argon2 hash, a variant or version it
/// does not implement, costs out of range, an empty password. Never shows a plaintext or a pepper.
class PasswordError : public Error {
public:
    using Error::Error;
};

// ---- leases (core/lease.hpp) ----

/// A lease operation that cannot proceed: bad name or option, or a lease object that is not ours to read.
class LeaseError : public Error {
public:
    LeaseError(std::string lease, const std::string& why)
        : Error("lease '" + InvalidKey::printable(lease) + "': " + why), lease_(std::move(lease)) {}
    const std::string& lease() const noexcept { return lease_; }

private:
    std::string lease_;
};

/// The holder no longer holds the lease: its validity ran out on its own clock, a renew was refused,
/// or the stored lease carries another holder. Nothing was written by the call that threw.
class LeaseLost : public LeaseError {
public:
    LeaseLost(std::string lease, std::uint64_t token, const std::string& why)
        : LeaseError(std::move(lease), "lost (fencing token " + std::to_string(token) + "): " + why), token_(token) {}
    std::uint64_t token() const noexcept { return token_; }

private:
    std::uint64_t token_;
};

/// A fenced write refused: the lease or the object carries a newer fencing token than the writer's.
class FencedOut : public LeaseLost {
public:
    FencedOut(std::string lease, std::string key, std::uint64_t token, std::uint64_t newer)
        : LeaseLost(std::move(lease), token,
                    "write to '" + InvalidKey::printable(key) + "' refused: fencing token " + std::to_string(newer) +
                        " is newer"),
          key_(std::move(key)), newer_(newer) {}
    const std::string& key() const noexcept { return key_; }
    std::uint64_t newer_token() const noexcept { return newer_; }

private:
    std::string key_;
    std::uint64_t newer_;
};

}  // namespace s3db
