import Foundation

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// Writes a file atomically: bytes go to a temporary file in the target's directory
/// (`.NAME.tmp-alexconv-PID-XXXXXX`, shortened to fit NAME_MAX), which is flushed and moved to the
/// target on `commit()`. Without `overwrite` the move never replaces anything (a hard link, so a file
/// created meanwhile is kept and reported); with it, the replaced file's permission bits are kept.
/// If the writer is dropped or `abort()`ed before committing, or the process gets SIGINT, SIGTERM or
/// SIGHUP, the temporary file is removed and any previous file at the path is intact. Temporary files
/// left by a killed process are removed by the next writer in that directory.
public final class AtomicFileWriter {
    public let path: String
    public let temporaryPath: String
    private let overwrite: Bool
    private var fd: Int32
    private var committed = false
    /// Bytes written so far.
    public private(set) var offset: Int = 0
    /// "writing <name>: 12.3 MB" on stderr when the write takes more than a second.
    private let progress: ProgressLine

    /// Test hook: when set (task-locally), `write` fails with an `IOError` once this many bytes
    /// have been written, to prove a failed export leaves the previous file and no temporary file.
    @TaskLocal public static var injectedFailureAfterBytes: Int?

    /// Opens a temporary file beside `path`. Throws if `path` exists (a dangling symlink included)
    /// and `overwrite` is false, or if `path` is a directory.
    public init(path: String, overwrite: Bool = true) throws {
        self.path = path
        self.overwrite = overwrite
        try OutputRule.checkWritable(path, overwrite: overwrite)
        let url = URL(fileURLWithPath: path)
        let directory = url.deletingLastPathComponent().path
        TemporaryFiles.removeStale(in: directory)
        (self.fd, self.temporaryPath) = try TemporaryFiles.openNew(beside: path)
        self.progress = ProgressLine("writing \(url.lastPathComponent)")
        fchmod(fd, 0o666 & ~TemporaryFiles.umaskBits)
    }

    deinit { if !committed { abort() } }

    /// Appends `bytes`.
    public func write(_ bytes: UnsafeRawBufferPointer) throws {
        guard var base = bytes.baseAddress else { return }
        if let limit = AtomicFileWriter.injectedFailureAfterBytes, offset + bytes.count > limit {
            throw IOError(path: path, "write failed: injected failure after \(limit) bytes")
        }
        var remaining = bytes.count
        while remaining > 0 {
            let n = Glibc.write(fd, base, remaining)
            if n < 0 {
                if errno == EINTR { continue }
                throw IOError(path: path, "write failed: \(String(cString: strerror(errno)))")
            }
            remaining -= n
            base += n
            offset += n
        }
        progress.update(completed: offset)
    }

    public func write(_ bytes: [UInt8]) throws { try bytes.withUnsafeBytes { try write($0) } }
    public func write(_ data: Data) throws { try data.withUnsafeBytes { try write($0) } }
    public func write(_ string: String) throws { try write(Array(string.utf8)) }

    /// Overwrites bytes at `position` (already written) with `bytes`.
    public func patch(_ bytes: [UInt8], at position: Int) throws {
        let n = bytes.withUnsafeBytes { pwrite(fd, $0.baseAddress, $0.count, off_t(position)) }
        if n != bytes.count { throw IOError(path: path, "write failed: \(String(cString: strerror(errno)))") }
    }

    /// Flushes and moves the temporary file to the target: replacing it only with `overwrite`.
    public func commit() throws {
        progress.finish()
        if fsync(fd) != 0 { throw IOError(path: path, "flush failed: \(String(cString: strerror(errno)))") }
        if overwrite {
            var existing = stat()
            if stat(path, &existing) == 0, (existing.st_mode & S_IFMT) == S_IFREG { fchmod(fd, existing.st_mode & 0o7777) }
        }
        close(fd)
        fd = -1
        if overwrite {
            if rename(temporaryPath, path) != 0 {
                let message = String(cString: strerror(errno))
                abort()
                throw IOError(path: path, "cannot move the finished file into place: \(message)")
            }
        } else {
            try moveWithoutReplacing()
        }
        TemporaryFiles.withSignalsHeld { TemporaryFiles.unregister(temporaryPath) }
        committed = true
    }

    /// Gives the finished file its final name only if that name is still free: a hard link (atomic),
    /// or, where the file system has no hard links, an exclusive create of the name then a rename onto it.
    private func moveWithoutReplacing() throws {
        if link(temporaryPath, path) == 0 {
            unlink(temporaryPath)
            return
        }
        let linkError = errno
        if linkError == EEXIST {
            abort()
            throw UsageError("\(path): was created by someone else while alexconv was writing; it was left as it is", remedy: .allowOverwrite)
        }
        guard linkError == EPERM || linkError == EOPNOTSUPP || linkError == EXDEV || linkError == EMLINK else {
            abort()
            throw IOError(path: path, "cannot move the finished file into place: \(String(cString: strerror(linkError)))")
        }
        let claim = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW, 0o600)
        if claim < 0 {
            let claimError = errno
            abort()
            if claimError == EEXIST {
                throw UsageError("\(path): was created by someone else while alexconv was writing; it was left as it is", remedy: .allowOverwrite)
            }
            throw IOError(path: path, "cannot create the output: \(String(cString: strerror(claimError)))")
        }
        close(claim)
        if rename(temporaryPath, path) != 0 {
            let message = String(cString: strerror(errno))
            unlink(path)
            abort()
            throw IOError(path: path, "cannot move the finished file into place: \(message)")
        }
    }

    /// Drops the temporary file; the target is left as it was.
    public func abort() {
        progress.finish()
        if fd >= 0 {
            close(fd)
            fd = -1
        }
        TemporaryFiles.withSignalsHeld {
            unlink(temporaryPath)
            TemporaryFiles.unregister(temporaryPath)
        }
        committed = true
    }
}

/// Writes `body`'s output to `path` atomically; on any error the target is untouched.
public func writeAtomically(to path: String, overwrite: Bool = true, _ body: (AtomicFileWriter) throws -> Void) throws {
    let writer = try AtomicFileWriter(path: path, overwrite: overwrite)
    do {
        try body(writer)
        try writer.commit()
    } catch {
        writer.abort()
        throw error
    }
}

/// Writes several files that belong together (a checkpoint's index and data, a caffemodel and its
/// prototxt): `body` fills one writer per path, in order; only when every body write succeeded are
/// all of them flushed and renamed into place. On any error before that, no target is touched.
public func writeAtomically(files paths: [String], overwrite: Bool = true, _ body: ([AtomicFileWriter]) throws -> Void) throws {
    var writers: [AtomicFileWriter] = []
    do {
        for path in paths { writers.append(try AtomicFileWriter(path: path, overwrite: overwrite)) }
        try body(writers)
        for writer in writers { try writer.commit() }
    } catch {
        for writer in writers { writer.abort() }
        throw error
    }
}
