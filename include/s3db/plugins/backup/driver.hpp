#pragma once
// Where Backup<Driver> keeps its archives: the drivers (policies) and what they share.
//
//   FilesystemBackup      files under a directory made from a path template
//   S3Backup<T = Any>     objects on any transport (another bucket or prefix, a connection string)
//   MultiBackup<D...>     several destinations, strategy all / any / priority
//
// A driver stores the named files of one backup and nothing else: it is told the backup (its
// BackupStamp: id, type, time) and resolves where that backup lives from its path template, so a
// backup is found again from its id alone — in another process, or by another database restoring it.
// Any type meeting `BackupDriver` may be named: `Backup<MyDriver>`.
//
// Path templates: `{date}` YYYY-MM-DD, `{time}` HH-MM-SS, `{year}` `{month}` `{day}`, `{backupId}`,
// `{type}` (full | incremental), all UTC at the backup's start. A template without `{backupId}` gets
// `<backupId>/` appended, so two backups of a day never share files.

#include <chrono>
#include <concepts>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <string_view>
#include <tuple>
#include <utility>
#include <vector>

#include "s3db/detail/config.hpp"
#include "s3db/detail/time.hpp"
#include "s3db/errors.hpp"
#include "s3db/transport/any.hpp"
#include "s3db/transport/transport.hpp"

namespace s3db {

/// A failure of the Backup plugin: names the backup, and the resource or file when there is one.
/// Passphrases are never part of the message.
class BackupError : public Error {
public:
    BackupError(std::string backup_id, const std::string& what, std::string file = {})
        : Error("backup '" + backup_id + "'" + (file.empty() ? std::string{} : " file '" + file + "'") + ": " + what),
          backup_id_(std::move(backup_id)), file_(std::move(file)) {}
    const std::string& backup_id() const noexcept { return backup_id_; }
    const std::string& file() const noexcept { return file_; }

private:
    std::string backup_id_, file_;
};

/// No such backup at the destination (or a file of it is missing).
class BackupNotFound : public BackupError {
public:
    using BackupError::BackupError;
};

/// A file's SHA-256 or size differs from the manifest's: the archive was altered or damaged.
class BackupChecksumMismatch : public BackupError {
public:
    using BackupError::BackupError;
};

/// An encrypted backup and no passphrase, a wrong passphrase, or a file whose GCM tag fails.
class BackupDecryptionFailed : public BackupError {
public:
    using BackupError::BackupError;
};

/// Restore refused (before writing anything) because the target database maps an attribute of a
/// resource to another metadata key than the archive's registry does: the restored records would
/// decode into other fields. `archive_index` / `target_index` are the indices of s3db.json's
/// `schemaRegistry` ("4"), or the plugin keys of `pluginSchemaRegistry` ("p1ab", the attribute then
/// named `<plugin>:<attribute>`); empty where that side does not map the attribute.
class BackupRegistryMismatch : public BackupError {
public:
    BackupRegistryMismatch(std::string backup_id, std::string resource, std::string attribute, std::string archive_index,
                           std::string target_index, const std::string& why)
        : BackupError(std::move(backup_id), "resource '" + resource + "': attribute '" + attribute + "' is " +
                                                (archive_index.empty() ? std::string("not mapped") : "index " + archive_index) +
                                                " in the archive's registry and " +
                                                (target_index.empty() ? std::string("not mapped") : "index " + target_index) +
                                                " in the target's (" + why + "); no record was written"),
          resource_(std::move(resource)), attribute_(std::move(attribute)), archive_index_(std::move(archive_index)),
          target_index_(std::move(target_index)) {}
    const std::string& resource() const noexcept { return resource_; }
    const std::string& attribute() const noexcept { return attribute_; }
    const std::string& archive_index() const noexcept { return archive_index_; }
    const std::string& target_index() const noexcept { return target_index_; }

private:
    std::string resource_, attribute_, archive_index_, target_index_;
};

/// Which backup a driver is asked about.
struct BackupStamp {
    std::string id;
    std::string type;       // "full" | "incremental"
    std::int64_t ms = 0;    // start, epoch milliseconds
};

namespace detail {

/// `<type>-<ISO time with ':' and '.' as '-'>-<6 base36>`, as s3db.js names backups.
S3DB_DECL std::string backup_id(std::string_view type, std::int64_t ms);
/// The stamp an id names; nullopt for an id not made by backup_id.
S3DB_DECL std::optional<BackupStamp> backup_stamp(std::string_view id);
/// The template with its placeholders filled (see the header comment); ends with '/' unless empty.
S3DB_DECL std::string backup_path(std::string_view tmpl, const BackupStamp& s);

}  // namespace detail

/// What every driver offers. `name` is a relative path ("manifest.json", "users/records-00000.jsonl").
template <class D>
concept BackupDriver = requires(D& d, const D& cd, const BackupStamp& s, std::string_view name, std::string_view bytes) {
    { d.write(s, name, bytes) } -> std::same_as<void>;
    { d.read(s, name) } -> std::same_as<std::optional<std::string>>;
    { d.remove(s) } -> std::same_as<void>;
    { cd.describe() } -> std::convertible_to<std::string>;
};

/// Files under a directory: `FilesystemBackup{"./backups/{date}/"}`. Each file is written to a
/// temporary name and renamed, so a reader never sees half a file.
class FilesystemBackup {
public:
    explicit FilesystemBackup(std::string path_template = "./backups/{date}/") : template_(std::move(path_template)) {}

    std::filesystem::path directory(const BackupStamp& s) const { return std::filesystem::path(detail::backup_path(template_, s)); }

    void write(const BackupStamp& s, std::string_view name, std::string_view bytes) {
        const auto file = directory(s) / std::filesystem::path(std::string(name));
        std::error_code ec;
        std::filesystem::create_directories(file.parent_path(), ec);
        const auto tmp = file.string() + ".part";
        {
            std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
            out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
            out.flush();
            if (!out) throw BackupError(s.id, "cannot write " + tmp, std::string(name));
        }
        std::filesystem::rename(tmp, file, ec);
        if (ec) throw BackupError(s.id, "cannot rename " + tmp + ": " + ec.message(), std::string(name));
    }

    std::optional<std::string> read(const BackupStamp& s, std::string_view name) {
        std::ifstream in(directory(s) / std::filesystem::path(std::string(name)), std::ios::binary);
        if (!in) return std::nullopt;
        std::ostringstream buf;
        buf << in.rdbuf();
        return std::move(buf).str();
    }

    void remove(const BackupStamp& s) {
        std::error_code ec;
        std::filesystem::remove_all(directory(s), ec);
    }

    std::string describe() const { return "filesystem:" + template_; }

private:
    std::string template_;
};

/// Objects on a store: `S3Backup<>("s3://key:secret@host/backups-bucket", "nightly/{date}/")`, or any
/// transport given directly (`S3Backup<Memory>(Memory{})`). The transport is shared by copies of the
/// driver.
///
/// `storage_class` (e.g. "STANDARD_IA", "GLACIER_IR"; empty: the bucket's default) is sent as
/// `x-amz-storage-class` with every file, manifest included. The server decides which classes it
/// has: AWS refuses unknown ones, Ceph RGW accepts STANDARD and the classes its placement target
/// defines; either way the first write throws InvalidStorageClass and the backup is marked failed.
/// Memory and Filesystem check the name's form and keep no class. Prefer classes that are read
/// at once (STANDARD_IA, ONEZONE_IA, GLACIER_IR, INTELLIGENT_TIERING): an incremental reads its
/// parent's manifest and index, and restore reads everything, which GLACIER and DEEP_ARCHIVE
/// objects only allow after an S3 RestoreObject.
template <Transport T = Any>
class S3Backup {
public:
    explicit S3Backup(T store, std::string path_template = "backups/{date}/", std::string storage_class = {})
        : store_(std::make_shared<T>(std::move(store))), template_(std::move(path_template)), storage_class_(std::move(storage_class)) {
        check_storage_class(template_, storage_class_);
    }
    /// From a connection string (only when T is Any).
    explicit S3Backup(std::string_view url, std::string path_template = "backups/{date}/", std::string storage_class = {})
        requires std::same_as<T, Any>
        : S3Backup(Any(url), std::move(path_template), std::move(storage_class)) {}

    T& store() noexcept { return *store_; }
    const std::string& storage_class() const noexcept { return storage_class_; }
    std::string prefix(const BackupStamp& s) const { return detail::backup_path(template_, s); }

    void write(const BackupStamp& s, std::string_view name, std::string_view bytes) {
        store_->put(prefix(s) + std::string(name), bytes,
                    PutOptions{.content_type = "application/octet-stream", .storage_class = storage_class_});
    }
    std::optional<std::string> read(const BackupStamp& s, std::string_view name) {
        auto o = store_->get(prefix(s) + std::string(name), GetOptions{});
        if (!o) return std::nullopt;
        return std::move(o->body);
    }
    void remove(const BackupStamp& s) { remove_prefix(*store_, prefix(s)); }
    std::string describe() const { return "s3:" + template_ + (storage_class_.empty() ? std::string{} : " (" + storage_class_ + ")"); }

private:
    std::shared_ptr<T> store_;
    std::string template_;
    std::string storage_class_;
};

enum class MultiStrategy {
    all,       // every destination must take every file; a failure fails the backup
    any,       // the backup succeeds when at least one destination took every file
    priority,  // the first destination that takes the backup gets it, the others are not written
};

/// Several destinations: `MultiBackup<FilesystemBackup, S3Backup<>>({fs, s3}, MultiStrategy::all)`.
/// Reads ask each destination in order and take the first that has the file.
template <BackupDriver... Ds>
class MultiBackup {
    static_assert(sizeof...(Ds) > 0, "s3db: MultiBackup needs at least one destination");

public:
    explicit MultiBackup(std::tuple<Ds...> drivers, MultiStrategy strategy = MultiStrategy::all)
        : drivers_(std::move(drivers)), strategy_(strategy) {}
    MultiBackup(Ds... drivers, MultiStrategy strategy) : drivers_(std::move(drivers)...), strategy_(strategy) {}

    std::tuple<Ds...>& drivers() noexcept { return drivers_; }
    MultiStrategy strategy() const noexcept { return strategy_; }
    /// Which destinations failed (index → why) during the last backup written, for `any`/`priority`.
    const std::vector<std::pair<std::size_t, std::string>>& failures() const noexcept { return state_->failures; }

    void write(const BackupStamp& s, std::string_view name, std::string_view bytes) {
        auto& st = *state_;
        if (st.backup != s.id) {  // a new backup: every destination is in the running again
            st.backup = s.id;
            st.failed.assign(sizeof...(Ds), false);
            st.failures.clear();
            st.chosen = -1;
        }
        std::size_t ok = 0;
        std::string last;
        for_each([&](std::size_t i, auto& d) {
            if (st.failed[i]) return;
            if (strategy_ == MultiStrategy::priority && st.chosen >= 0 && static_cast<std::size_t>(st.chosen) != i) return;
            if (strategy_ == MultiStrategy::priority && st.chosen < 0 && ok > 0) return;
            try {
                d.write(s, name, bytes);
                ++ok;
                if (strategy_ == MultiStrategy::priority && st.chosen < 0) st.chosen = static_cast<int>(i);
            } catch (const std::exception& e) {
                if (strategy_ == MultiStrategy::all)
                    throw BackupError(s.id, "destination " + std::to_string(i) + " (" + d.describe() + ") failed: " + e.what(),
                                      std::string(name));
                st.failed[i] = true;
                st.failures.emplace_back(i, e.what());
                last = e.what();
                if (strategy_ == MultiStrategy::priority && st.chosen == static_cast<int>(i)) st.chosen = -2;  // lost mid-backup
            }
        });
        if (ok == 0 || st.chosen == -2)
            throw BackupError(s.id, "no destination took the file (last error: " + last + ")", std::string(name));
    }

    std::optional<std::string> read(const BackupStamp& s, std::string_view name) {
        std::optional<std::string> found;
        for_each([&](std::size_t, auto& d) {
            if (found) return;
            try {
                found = d.read(s, name);
            } catch (const std::exception&) {  // an unreachable destination: ask the next
            }
        });
        return found;
    }

    void remove(const BackupStamp& s) {
        for_each([&](std::size_t, auto& d) { d.remove(s); });
    }

    std::string describe() const {
        std::string out = "multi(";
        std::size_t n = 0;
        std::apply([&](const auto&... d) { ((out += (n++ ? "," : "") + std::string(d.describe())), ...); }, drivers_);
        return out + ")";
    }

private:
    template <class Fn>
    void for_each(Fn&& fn) {
        std::size_t i = 0;
        std::apply([&](auto&... d) { (fn(i++, d), ...); }, drivers_);
    }
    struct State {
        std::string backup;
        std::vector<bool> failed;
        std::vector<std::pair<std::size_t, std::string>> failures;
        int chosen = -1;
    };
    std::tuple<Ds...> drivers_;
    MultiStrategy strategy_;
    std::shared_ptr<State> state_ = std::make_shared<State>();
};

}  // namespace s3db

#if S3DB_DEFINE_BODIES
#include "s3db/core/ids.hpp"

namespace s3db::detail {

S3DB_DECL std::string backup_id(std::string_view type, std::int64_t ms) {
    std::string iso = iso_string(ms);  // 2024-03-01T09:00:00.000Z
    for (char& c : iso)
        if (c == ':' || c == '.') c = '-';
    return std::string(type) + "-" + iso + "-" + random_id(6, "0123456789abcdefghijklmnopqrstuvwxyz");
}

S3DB_DECL std::optional<BackupStamp> backup_stamp(std::string_view id) {
    const auto dash = id.find('-');
    if (dash == std::string_view::npos || id.size() != dash + 1 + 24 + 1 + 6) return std::nullopt;
    const std::string_view type = id.substr(0, dash), t = id.substr(dash + 1, 24);
    if (type != "full" && type != "incremental") return std::nullopt;
    auto num = [&](std::size_t at, std::size_t n) -> int {
        int v = 0;
        for (std::size_t i = at; i < at + n; ++i) {
            if (t[i] < '0' || t[i] > '9') return -1;
            v = v * 10 + (t[i] - '0');
        }
        return v;
    };
    const int y = num(0, 4), mo = num(5, 2), d = num(8, 2), h = num(11, 2), mi = num(14, 2), s = num(17, 2), ms = num(20, 3);
    if (y < 0 || mo < 1 || d < 1 || h < 0 || mi < 0 || s < 0 || ms < 0 || t[23] != 'Z') return std::nullopt;
    const std::chrono::year_month_day ymd{std::chrono::year(y), std::chrono::month(static_cast<unsigned>(mo)),
                                          std::chrono::day(static_cast<unsigned>(d))};
    if (!ymd.ok()) return std::nullopt;
    const auto days = std::chrono::sys_days(ymd).time_since_epoch().count();
    const std::int64_t epoch = ((static_cast<std::int64_t>(days) * 24 + h) * 60 + mi) * 60'000 + s * 1000 + ms;
    return BackupStamp{std::string(id), std::string(type), epoch};
}

S3DB_DECL std::string backup_path(std::string_view tmpl, const BackupStamp& s) {
    const std::string iso = iso_string(s.ms);  // YYYY-MM-DDTHH:MM:SS.mmmZ
    std::string time = iso.substr(11, 8);
    for (char& c : time)
        if (c == ':') c = '-';
    const std::pair<std::string_view, std::string> fills[] = {
        {"{date}", iso.substr(0, 10)}, {"{time}", time},         {"{year}", iso.substr(0, 4)}, {"{month}", iso.substr(5, 2)},
        {"{day}", iso.substr(8, 2)},   {"{backupId}", s.id},     {"{type}", s.type}};
    std::string out(tmpl);
    for (auto& [from, to] : fills)
        for (std::size_t at = out.find(from); at != std::string::npos; at = out.find(from, at + to.size()))
            out.replace(at, from.size(), to);
    if (!out.empty() && out.back() != '/') out += '/';
    if (tmpl.find("{backupId}") == std::string_view::npos) out += s.id + "/";
    return out;
}

}  // namespace s3db::detail
#endif  // S3DB_DEFINE_BODIES
