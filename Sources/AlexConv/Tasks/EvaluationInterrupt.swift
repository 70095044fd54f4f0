import Foundation

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

// MARK: - Ctrl-C during a long run

/// The first Ctrl-C (SIGINT) of a long run asks it to stop after the batch in hand, so it can print
/// its partial result and keep its resume file; a second one ends the process as usual (the handler
/// that was installed before, which removes unfinished outputs, is back in place after the first).
public enum EvaluationInterrupt {
    nonisolated(unsafe) private static var flag: sig_atomic_t = 0
    nonisolated(unsafe) private static var previous = sigaction()
    nonisolated(unsafe) private static var installed = false
    private static let lock = NSLock()

    /// Whether an interruption was asked for (by SIGINT or `request()`).
    public static var requested: Bool { flag != 0 }

    /// Asks the run to stop after the batch in hand, as Ctrl-C does.
    public static func request() { flag = 1 }

    /// Forgets an earlier request (a new run starts).
    public static func reset() { flag = 0 }

    /// Catches the next SIGINT as a request to stop (command-line runs; call `uninstall` after).
    public static func install() {
        lock.withLock {
            guard !installed else { return }
            installed = true
            flag = 0
            var action = sigaction()
            #if canImport(Glibc)
                action.__sigaction_handler.sa_handler = stopAfterThisBatch
            #else
                action.__sigaction_u.__sa_handler = stopAfterThisBatch
            #endif
            sigemptyset(&action.sa_mask)
            action.sa_flags = 0
            sigaction(SIGINT, &action, &previous)
        }
    }

    /// Puts back the SIGINT handler that was there before `install`.
    public static func uninstall() {
        lock.withLock {
            guard installed else { return }
            installed = false
            sigaction(SIGINT, &previous, nil)
        }
    }

    /// Signal context: note the request, and let the next SIGINT go to the earlier handler.
    fileprivate static func noteSignal() {
        flag = 1
        sigaction(SIGINT, &previous, nil)
    }
}

private func stopAfterThisBatch(_ signal: Int32) {
    EvaluationInterrupt.noteSignal()
}

/// A run stopped by Ctrl-C after printing its partial result: exit 130 (128 + SIGINT), as shells
/// report an interrupted command.
public struct EvaluationInterrupted: UserFacingError, Equatable {
    /// What was kept and how to continue.
    public var detail: String
    /// An interruption saying `detail`.
    public init(_ detail: String) { self.detail = detail }
    /// 130.
    public var exitCode: Int32 { 130 }
    /// The one-line message.
    public var description: String { detail }
}
