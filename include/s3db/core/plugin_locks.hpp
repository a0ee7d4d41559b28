#pragma once
// The locks of PluginStorage (`plugin=<slug>/locks/<name>`): what taking one asks for (LockOptions)
// and what a holder keeps (Lock). Taking, releasing, extending and with_lock are PluginStorage's
// members (core/plugin_storage.hpp): they work on its transport, clock and key rules.

#include <chrono>
#include <string>

namespace s3db {

struct LockOptions {
    std::chrono::seconds ttl{30};           // the lock expires (and may be taken over) after this
    std::chrono::milliseconds timeout{0};   // how long to wait for a live lock to go; 0 = one try
    std::string worker_id = "unknown";      // recorded in the lock, for humans
};

/// A held lock. `etag` identifies the version written by its holder: release and extend are
/// conditional on it.
struct Lock {
    std::string name, key, token, worker_id;
    std::chrono::system_clock::time_point acquired_at{}, expires_at{};
    std::string etag;
};

/// What releasing a lock by its name did (PluginStorage::release_lock(name)).
enum class LockRelease {
    released,  // this holder held it: it is released
    not_held,  // this holder holds no lock of that name (never took it, released it already, or the
               // lock is another holder's): nothing was sent, nothing changed
    lost,      // this holder took it, but it is no longer its version (it expired and was taken
               // over): nothing changed, and the holder forgets it
};

}  // namespace s3db
