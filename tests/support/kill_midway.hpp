#pragma once
// Crash proofs: a forked child makes writes and reports each acknowledged one on a pipe; the parent
// kills it with SIGKILL after `kill_after` of them, as a crash or an OOM kill would, and then checks
// what survived.

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <exception>
#include <functional>
#include <optional>

namespace s3db::test {

/// Runs `writes(ack)` in a child process; `ack()` reports one acknowledged write and returns false
/// once the parent has stopped listening. Kills the child after `kill_after` acknowledgements and
/// returns how many it made (those already in the pipe at the kill included), or nullopt, with a
/// test failure, when the child could not be started or ended before it was killed.
inline std::optional<int> kill_midway(int kill_after, const std::function<void(const std::function<bool()>& ack)>& writes) {
    int progress[2];
    if (::pipe(progress) != 0) {
        ADD_FAILURE() << "pipe failed";
        return std::nullopt;
    }
    const pid_t child = ::fork();
    if (child < 0) {
        ADD_FAILURE() << "fork failed";
        return std::nullopt;
    }
    if (child == 0) {
        ::close(progress[0]);
        try {
            writes([&] {
                const char c = 'w';
                return ::write(progress[1], &c, 1) == 1;
            });
        } catch (...) {
        }
        ::_exit(0);
    }
    ::close(progress[1]);
    int acked = 0;
    char c;
    while (acked < kill_after && ::read(progress[0], &c, 1) == 1) ++acked;
    ::kill(child, SIGKILL);
    int status = 0;
    ::waitpid(child, &status, 0);
    while (::read(progress[0], &c, 1) == 1) ++acked;  // acknowledgements already in the pipe
    ::close(progress[0]);
    if (!WIFSIGNALED(status)) {
        ADD_FAILURE() << "the child was to be killed midway; it ended after " << acked << " writes";
        return std::nullopt;
    }
    return acked;
}

}  // namespace s3db::test
