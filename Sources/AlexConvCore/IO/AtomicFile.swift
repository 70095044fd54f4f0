import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Writes a file atomically: bytes go to a temporary file in the target's directory, which is
/// flushed and renamed over the target on `commit()`. If the writer is dropped or `abort()`ed
/// before committing, the temporary file is removed and any previous file at the path is intact.
public final class AtomicFileWriter {
    public let path: String
    public let temporaryPath: String
    private var fd: Int32
    private var committed = false
    /// Bytes written so far.
    public private(set) var offset: Int = 0
    /// "writing <name>: 12.3 MB" on stderr when the write takes more than a second.
    private let progress: ProgressLine

    /// Test hook: when set (task-locally), `write` fails with an `IOError` once this many bytes
    /// have been written, to prove a failed export leaves the previous file and no temporary file.
    @TaskLocal public static var injectedFailureAfterBytes: Int?

    /// Opens a temporary file beside `path`. Throws if `path` exists and `overwrite` is false.
    public init(path: String, overwrite: Bool = true) throws {
        self.path = path
        if !overwrite && FileManager.default.fileExists(atPath: path) {
            throw UsageError("\(path): already exists", remedy: .allowOverwrite)
        }
        let url = URL(fileURLWithPath: path)
        let directory = url.deletingLastPathComponent().path
        var template = Array((directory + "/." + url.lastPathComponent + ".tmp-alexconv-XXXXXX").utf8CString)
        let fd = template.withUnsafeMutableBufferPointer { mkstemp($0.baseAddress!) }
        if fd < 0 {
            throw IOError(path: path, "cannot create a temporary file in \(directory): \(String(cString: strerror(errno)))")
        }
        self.fd = fd
        self.temporaryPath = template.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
        self.progress = ProgressLine("writing \(url.lastPathComponent)")
        fchmod(fd, 0o644)
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

    /// Flushes and renames the temporary file over the target.
    public func commit() throws {
        progress.finish()
        if fsync(fd) != 0 { throw IOError(path: path, "flush failed: \(String(cString: strerror(errno)))") }
        close(fd)
        fd = -1
        if rename(temporaryPath, path) != 0 {
            let message = String(cString: strerror(errno))
            unlink(temporaryPath)
            throw IOError(path: path, "cannot move the finished file into place: \(message)")
        }
        committed = true
    }

    /// Drops the temporary file; the target is left as it was.
    public func abort() {
        progress.finish()
        if fd >= 0 { close(fd); fd = -1 }
        unlink(temporaryPath)
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
