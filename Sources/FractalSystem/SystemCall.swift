#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import SystemPackage

/// Runs a call that returns -1 and sets `errno` on failure, again while a signal interrupts it
/// (EINTR), and returns its last result: `errno` still holds the failure's code.
public func retryingInterrupts<Result: FixedWidthInteger>(_ call: () -> Result) -> Result {
    while true {
        let result = call()
        if result != -1 || errno != EINTR { return result }
    }
}

/// `retryingInterrupts`, with a failure thrown as its `Errno`.
@discardableResult
public func checkedCall<Result: FixedWidthInteger>(_ call: () -> Result) throws(Errno) -> Result {
    let result = retryingInterrupts(call)
    guard result != -1 else { throw Errno(rawValue: errno) }
    return result
}
