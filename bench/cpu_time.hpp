#pragma once
// CPU time and minor page faults of this process (every thread; a child process such as node is not
// in them), which the benchmarks divide by operations to print next to throughput.

#include <sys/resource.h>
#include <time.h>

namespace s3db::bench {

inline double cpu_seconds() {
    timespec t{};
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
    return double(t.tv_sec) + double(t.tv_nsec) / 1e9;
}

/// Page faults of this process that needed no I/O: first touches of fresh memory, mostly. On a
/// virtual machine each can cost microseconds, which is why the benchmarks print them per op.
inline long minor_faults() {
    rusage u{};
    getrusage(RUSAGE_SELF, &u);
    return u.ru_minflt;
}

}  // namespace s3db::bench
