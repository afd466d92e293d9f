import Glibc

/// CPU time (user + system, every thread) of this process, in nanoseconds: CLOCK_PROCESS_CPUTIME_ID
/// counts the scheduler's own runtime, so it is exact where /proc's ticks are 10 ms coarse.
enum ProcessCPU {
    static var nanoseconds: Int64 {
        var now = timespec()
        clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &now)
        return Int64(now.tv_sec) * 1_000_000_000 + Int64(now.tv_nsec)
    }
}
