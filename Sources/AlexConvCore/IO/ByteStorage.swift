import Foundation

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// Immutable bytes that tensors view: a read-only memory map of a file, or memory alexconv owns.
///
/// Tensors keep their storage alive; a memory-mapped storage is unmapped when the last tensor
/// viewing it goes away. Nothing ever writes through a storage, so input files are never modified.
public final class ByteStorage: @unchecked Sendable {
    /// The bytes. Valid for the lifetime of this object.
    public let bytes: UnsafeRawBufferPointer
    private let release: (() -> Void)?

    /// Takes ownership of `buffer` (allocated with `UnsafeMutableRawBufferPointer.allocate`).
    public init(owning buffer: UnsafeMutableRawBufferPointer) {
        self.bytes = UnsafeRawBufferPointer(buffer)
        self.release = { buffer.deallocate() }
    }

    /// Copies `bytes` into owned memory.
    public convenience init<C: Collection>(copying bytes: C) where C.Element == UInt8 {
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: Swift.max(bytes.count, 1), alignment: 64)
        _ = buffer.initializeMemory(as: UInt8.self, from: bytes)
        self.init(owning: UnsafeMutableRawBufferPointer(rebasing: buffer[0..<bytes.count]), deallocate: buffer)
    }

    private init(owning view: UnsafeMutableRawBufferPointer, deallocate allocation: UnsafeMutableRawBufferPointer) {
        self.bytes = UnsafeRawBufferPointer(view)
        self.release = { allocation.deallocate() }
    }

    /// Views bytes owned by `owner` (another storage, a `Data`, ...), which is kept alive.
    public init(viewing bytes: UnsafeRawBufferPointer, keepingAlive owner: AnyObject) {
        self.bytes = bytes
        self.release = { withExtendedLifetime(owner) {} }
    }

    private init(mapped bytes: UnsafeRawBufferPointer, release: @escaping () -> Void) {
        self.bytes = bytes
        self.release = release
    }

    deinit { release?() }

    /// From this size on, `zeroed` maps anonymous pages: the kernel zeroes them lazily, so memory
    /// is committed only as it is written (a size a file merely claims costs nothing).
    static let lazyZeroedBytes = 1 << 20

    /// Allocates `count` zeroed bytes, 64-byte aligned.
    public static func zeroed(count: Int) -> (ByteStorage, UnsafeMutableRawBufferPointer) {
        if count >= lazyZeroedBytes,
            let base = mmap(nil, count, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0), base != MAP_FAILED
        {
            let view = UnsafeMutableRawBufferPointer(start: base, count: count)
            return (ByteStorage(mapped: UnsafeRawBufferPointer(view), release: { munmap(base, count) }), view)
        }
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: Swift.max(count, 1), alignment: 64)
        buffer.initializeMemory(as: UInt8.self, repeating: 0)
        let view = UnsafeMutableRawBufferPointer(rebasing: buffer[0..<count])
        let storage = ByteStorage(owning: view, deallocate: buffer)
        return (storage, view)
    }

    /// Maps `path` read-only (private mapping: the file can never be modified through it).
    /// Only regular files: a FIFO or a device is refused before anything waits on it.
    public static func map(path: String) throws -> ByteStorage {
        // O_NONBLOCK: opening a FIFO must not wait for a writer; fstat then refuses it.
        let fd = open(path, O_RDONLY | O_NONBLOCK)
        if fd < 0 { throw IOError(path: path, String(cString: strerror(errno))) }
        defer { close(fd) }
        var info = stat()
        if fstat(fd, &info) != 0 { throw IOError(path: path, String(cString: strerror(errno))) }
        if (info.st_mode & S_IFMT) == S_IFDIR { throw IOError(path: path, "is a directory, expected a file") }
        try requireRegularFile(path, mode: info.st_mode)
        let size = Int(info.st_size)
        if size == 0 {
            return ByteStorage(copying: [UInt8]())
        }
        guard let base = mmap(nil, size, PROT_READ, MAP_PRIVATE, fd, 0), base != MAP_FAILED else {
            throw IOError(path: path, "cannot map file: \(String(cString: strerror(errno)))")
        }
        let bytes = UnsafeRawBufferPointer(start: base, count: size)
        return ByteStorage(mapped: bytes, release: { munmap(base, size) })
    }
}

/// The whole of a small text file a user names (a spec, a name map, EXPECTED.json): regular files
/// only, at most `limit` bytes; `what` names it in errors ("architecture spec").
public func readSmallFile(_ path: String, what: String, limit: Int = 64 << 20) throws -> Data {
    var info = stat()
    guard stat(path, &info) == 0 else { throw IOError(path: path, "cannot read \(what): \(String(cString: strerror(errno)))") }
    try requireRegularFile(path, mode: info.st_mode)
    guard Int(info.st_size) <= limit else {
        throw FormatError(.limit, file: path, "\(what) is \(info.st_size) bytes, more than the \(limit >> 20) MiB alexconv reads for one")
    }
    let storage = try ByteStorage.map(path: path)
    return Data(storage.bytes)
}

/// Throws unless `mode` (from stat) is a regular file's: pipes, FIFOs, devices and sockets are
/// refused by name, so nothing waits forever on a writer or reads an endless device.
public func requireRegularFile(_ path: String, mode: mode_t) throws {
    let kind: String
    switch mode & S_IFMT {
    case S_IFREG: return
    case S_IFIFO: kind = "a pipe or FIFO"
    case S_IFCHR, S_IFBLK: kind = "a device"
    case S_IFSOCK: kind = "a socket"
    case S_IFDIR: kind = "a directory"
    default: kind = "not a regular file"
    }
    throw IOError(path: path, "is \(kind); alexconv reads regular files only (save the data to a file first)")
}
