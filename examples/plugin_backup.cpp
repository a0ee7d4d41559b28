// The Backup plugin: a full backup of every resource to a dated directory, an incremental that
// carries only what changed (found by LIST's ETags, no GET per unchanged record), a restore of the
// chain after a disaster, a migration into another database, and an archive with one byte flipped
// that restore refuses before writing anything. The archive is gzip-compressed, then encrypted
// (AES-256-GCM, key from a passphrase); gzip is opt-in: <s3db/plugins/backup/gzip.hpp> and zlib
// (CMake: link s3db::gzip).

#include <s3db/s3db.hpp>

#include "check.hpp"
#include <s3db/plugins/backup.hpp>
#include <s3db/plugins/backup/gzip.hpp>

#include <filesystem>
#include <fstream>
#include <iostream>
#include <iterator>
#include <string>

using Bk = s3db::Backup<s3db::FilesystemBackup, s3db::GzipCompression>;

int main() {
    std::filesystem::remove_all("backup-db");  // a fresh database and archive on every run
    const std::string where = "./backup-db/archive/{date}/";
    s3db::Database<Bk> db("file://./backup-db/data", {},
                          Bk(s3db::FilesystemBackup{where}, {.passphrase = "correct horse battery staple"},
                             s3db::GzipCompression{.level = 6}));
    db.connect();  // creates plg_backup_metadata

    auto& users = db.create_resource({
        .name = "users",
        .attributes = {{"name", "string|required"}, {"plan", "string"}, {"apiKey", "secret"}},
        .behavior = "body-overflow",
        .partitions = {{"byPlan", {{"fields", {{"plan", "string"}}}}}},
    });
    for (int i = 0; i < 50; ++i)
        users.insert({{"id", "u" + std::to_string(i)}, {"name", "User " + std::to_string(i)},
                      {"plan", i % 5 == 0 ? "pro" : "free"}, {"apiKey", "key-" + std::to_string(i)}});

    // 1. A full backup, then an incremental with two changes and a deletion.
    auto& backup = db.plugin<Bk>();
    db.on_plugin_event("backup.complete", [](const s3db::json& e) {
        std::cout << "  backup.complete " << e["id"].get<std::string>() << ": " << e["records"] << " records, "
                  << e["deleted"] << " deletions, " << e["bytes"] << " bytes\n";
    });
    auto full = backup.backup();
    users.update("u1", s3db::json{{"plan", "pro"}});
    users.insert({{"id", "u100"}, {"name", "Newcomer"}, {"plan", "pro"}, {"apiKey", "key-100"}});
    users.remove("u2");
    auto inc = backup.backup(s3db::BackupType::incremental);
    check(full.records == 50, "the full backup holds every record");
    check(inc.records == 2 && inc.deleted == 1 && inc.parent == full.id, "the incremental holds only what changed");
    check(backup.get_backup_status(inc.id)->at("status") == "completed", "plg_backup_metadata has its status");
    std::cout << "full backup: " << full.bytes << " bytes stored for " << full.plain_bytes << " bytes of archive files\n";
    check(full.bytes < full.plain_bytes, "gzip made the archive smaller (before encrypting it)");

    // The archive really is encrypted: no name, no key appears in its files.
    for (auto& f : std::filesystem::recursive_directory_iterator("backup-db/archive")) {
        if (!f.is_regular_file()) continue;
        std::ifstream in(f.path(), std::ios::binary);
        std::string bytes((std::istreambuf_iterator<char>(in)), {});
        check(bytes.find("User 1") == std::string::npos, "no plaintext in " + f.path().string());
    }

    // 2. Disaster: every record gone. The chain full + incremental brings back the last state.
    s3db::remove_prefix(db.store(), "resource=users/");
    check(users.list().empty(), "the users are gone");
    auto restored = backup.restore(inc.id, {.mode = s3db::RestoreMode::replace});
    std::cout << "restored " << restored.written << " record objects from " << restored.chain.size() << " backups\n";
    check(users.count() == 50 && !users.exists("u2") && users.exists("u100"), "the state at the incremental is back");
    check(users.get("u7")["apiKey"] == "key-7", "secrets come back as they were stored, and decrypt");
    auto pro = users.list_ids({.partition = "byPlan", .values = {{"plan", "pro"}}});
    check(pro.size() == 12, "partitions are rebuilt: 10 pro users, u1 and u100");

    // 3. Migration: another database restores the same archive.
    s3db::Database<Bk> other("memory://migrated", {}, Bk(s3db::FilesystemBackup{where}, {.passphrase = "correct horse battery staple"}));
    other.connect();
    other.plugin<Bk>().restore(inc.id);
    check(other.resource("users").get("u1")["plan"] == "pro", "another database gets the records and the definition");

    // 4. One flipped byte: restore refuses before writing, naming the file.
    auto dir = backup.driver().directory(*s3db::detail::backup_stamp(full.id));
    auto file = dir / "users" / "records-00000.jsonl.gz";
    std::string bytes;
    {
        std::ifstream in(file, std::ios::binary);
        bytes.assign(std::istreambuf_iterator<char>(in), {});
    }
    bytes[bytes.size() / 2] ^= 0x20;
    std::ofstream(file, std::ios::binary | std::ios::trunc) << bytes;
    users.update("u3", s3db::json{{"name", "Changed after the backup"}});
    try {
        backup.restore(inc.id, {.mode = s3db::RestoreMode::replace});
        check(false, "a damaged archive is refused");
    } catch (const s3db::BackupChecksumMismatch& e) {
        std::cout << "refused: " << e.what() << "\n";
    }
    check(users.get("u3")["name"] == "Changed after the backup", "nothing was written");

    std::cout << "backups: ";
    for (auto& b : backup.list_backups()) std::cout << b["id"].get<std::string>() << " (" << b["type"].get<std::string>() << ") ";
    std::cout << "\nok\n";
}
