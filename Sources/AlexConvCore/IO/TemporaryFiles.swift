import Foundation

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// The temporary files of unfinished outputs: their names, their removal on SIGINT, SIGTERM and
/// SIGHUP, and the removal of those a killed process left behind.
///
/// Names are `.NAME.tmp-alexconv-PID-XXXXXX` (NAME shortened so the whole fits NAME_MAX), so a later
/// run can tell whose they were: a file whose process no longer exists is removed, and said so.
public enum TemporaryFiles {
    /// Where notices go (a removed leftover); standard error by default.
    nonisolated(unsafe) public static var notice: (String) -> Void = { message in
        FileHandle.standardError.write(Data(("alexconv: " + oneLine(message) + "\n").utf8))
    }

    /// The marker every temporary name carries.
    public static let marker = ".tmp-alexconv-"

    /// The name pattern (six X for random letters) of a temporary file beside `name` (a file name, no directory).
    public static func templateName(for name: String) -> String {
        let suffix = marker + "\(getpid())-XXXXXX"
        let room = Int(NAME_MAX) - 1 - suffix.utf8.count
        var kept = ""
        for scalar in name.unicodeScalars {
            if kept.utf8.count + String(scalar).utf8.count > room { break }
            kept.unicodeScalars.append(scalar)
        }
        return "." + kept + suffix
    }

    /// A new empty temporary file beside `path` (removed on the signals above until `release`d), for
    /// writers that need a scratch file of their own (e.g. the HDF5 part of a `.keras` archive).
    public static func create(beside path: String) throws -> String {
        let (fd, temporary) = try openNew(beside: path)
        close(fd)
        return temporary
    }

    /// Creates and opens (read-write, mode 0600) a new temporary file beside `path`. Its name is
    /// registered for removal *before* the file exists, so a signal handled on any thread at any
    /// moment finds it (mkstemp would create it first and leave a window).
    public static func openNew(beside path: String) throws -> (fd: Int32, path: String) {
        let url = URL(fileURLWithPath: path)
        let directory = url.deletingLastPathComponent().path
        let template = directory + "/" + templateName(for: url.lastPathComponent)
        let letters = Array("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789")
        for _ in 0..<100 {
            let candidate = String(template.dropLast(6)) + String((0..<6).map { _ in letters.randomElement()! })
            let (fd, failure): (Int32, Int32) = withSignalsHeld {
                candidate.withCString { register($0) }
                let fd = open(candidate, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0o600)
                let failure = errno
                if fd < 0 { unregister(candidate) }
                return (fd, failure)
            }
            if fd >= 0 { return (fd, candidate) }
            if failure != EEXIST {
                throw IOError(path: path, "cannot create a temporary file in \(directory): \(String(cString: strerror(failure)))")
            }
        }
        throw IOError(path: path, "cannot create a temporary file in \(directory): 100 names taken")
    }

    /// Removes a temporary file made by `create(beside:)` and forgets it.
    public static func release(_ path: String) {
        withSignalsHeld {
            unlink(path)
            unregister(path)
        }
    }

    // MARK: Registry read by the signal handler

    private static let capacity = 256
    /// Paths of live temporary files (strdup'ed C strings); the handler only reads them and calls unlink.
    nonisolated(unsafe) private static let slots: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?> = {
        let slots = UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>.allocate(capacity: capacity)
        slots.initialize(repeating: nil, count: capacity)
        return slots
    }()
    private static let lock = NSLock()
    nonisolated(unsafe) private static var handlersInstalled = false
    /// The process's umask, read once.
    public static let umaskBits: mode_t = {
        let bits = umask(0)
        umask(bits)
        return bits
    }()

    /// Runs `body` with SIGINT, SIGTERM and SIGHUP blocked on this thread and the registry locked.
    static func withSignalsHeld<T>(_ body: () throws -> T) rethrows -> T {
        var blocked = sigset_t()
        var previous = sigset_t()
        sigemptyset(&blocked)
        for signal in handledSignals { sigaddset(&blocked, signal) }
        pthread_sigmask(SIG_BLOCK, &blocked, &previous)
        lock.lock()
        defer {
            lock.unlock()
            pthread_sigmask(SIG_SETMASK, &previous, nil)
        }
        return try body()
    }

    private static let handledSignals: [Int32] = [SIGINT, SIGTERM, SIGHUP]

    /// Call inside `withSignalsHeld`.
    static func register(_ path: UnsafePointer<CChar>) {
        installHandlers()
        for index in 0..<capacity where slots[index] == nil {
            slots[index] = strdup(path)
            return
        }
    }

    /// Call inside `withSignalsHeld`.
    static func unregister(_ path: String) {
        for index in 0..<capacity {
            if let slot = slots[index], String(cString: slot) == path {
                slots[index] = nil
                free(slot)
            }
        }
    }

    /// For a command-line process, at start: SIGINT, SIGTERM and SIGHUP unblocked (a parent may have
    /// spawned it with them blocked, as Foundation's `Process` does on Linux) and the cleanup handler
    /// installed, before any thread exists that would inherit another mask.
    public static func prepareForSignals() {
        var signals = sigset_t()
        sigemptyset(&signals)
        for signal in handledSignals { sigaddset(&signals, signal) }
        pthread_sigmask(SIG_UNBLOCK, &signals, nil)
        withSignalsHeld { installHandlers() }
    }

    /// Installs the cleanup handler for each signal whose disposition is still the default (an
    /// ignored SIGHUP under `nohup` stays ignored).
    private static func installHandlers() {
        guard !handlersInstalled else { return }
        handlersInstalled = true
        for signal in handledSignals {
            var current = sigaction()
            sigaction(signal, nil, &current)
            #if canImport(Glibc)
                let isDefault = current.__sigaction_handler.sa_handler == nil
            #else
                let isDefault = current.__sigaction_u.__sa_handler == nil
            #endif
            guard isDefault else { continue }
            var action = sigaction()
            #if canImport(Glibc)
                action.__sigaction_handler.sa_handler = removeTemporaryFilesAndReraise
            #else
                action.__sigaction_u.__sa_handler = removeTemporaryFilesAndReraise
            #endif
            sigemptyset(&action.sa_mask)
            action.sa_flags = 0
            sigaction(signal, &action, nil)
        }
    }

    /// Signal context: unlink every registered file, then die of the signal as if unhandled.
    fileprivate static func unlinkAllRegistered() {
        for index in 0..<capacity {
            if let slot = slots[index] { unlink(slot) }
        }
    }

    // MARK: Leftovers of killed processes

    /// Removes the temporary files in `directory` that a process which no longer exists left behind
    /// (names from `templateName`), and those of this naming without a process id older than a day.
    public static func removeStale(in directory: String) {
        let directory = directory.isEmpty ? "." : directory
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: directory) else { return }
        let me = getuid()
        for name in names where name.hasPrefix(".") {
            guard let range = name.range(of: marker, options: .backwards) else { continue }
            let tail = name[range.upperBound...]
            let path = directory + "/" + name
            var info = stat()
            guard lstat(path, &info) == 0, (info.st_mode & S_IFMT) == S_IFREG, info.st_uid == me else { continue }
            let parts = tail.split(separator: "-")
            let stale: Bool
            if parts.count == 2, let pid = Int32(parts[0]), pid > 0 {
                stale = pid != getpid() && kill(pid, 0) != 0 && errno == ESRCH
            } else {
                #if canImport(Glibc)
                    let modified = Double(info.st_mtim.tv_sec)
                #else
                    let modified = Double(info.st_mtimespec.tv_sec)
                #endif
                stale = Date().timeIntervalSince1970 - modified > 86_400
            }
            if stale, unlink(path) == 0 {
                notice("removed \(path): an unfinished output left by an interrupted run")
            }
        }
    }
}

private func removeTemporaryFilesAndReraise(_ signal: Int32) {
    TemporaryFiles.unlinkAllRegistered()
    var action = sigaction()
    sigemptyset(&action.sa_mask)
    sigaction(signal, &action, nil)  // back to the default disposition
    raise(signal)
}
