#pragma once
// CPU time of this process (every thread; a child process such as node is not in it), which the
// benchmarks divide by operations to print CPU per operation next to throughput.

#include <time.h>

namespace s3db::bench {

inline double cpu_seconds() {
    timespec t{};
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
    return double(t.tv_sec) + double(t.tv_nsec) / 1e9;
}

}  // namespace s3db::bench
