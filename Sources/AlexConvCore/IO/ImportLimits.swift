import Foundation

// MARK: - Limits of one import

/// What one import may allocate beyond the bytes of its own file. Data a file holds directly is
/// bounded by the file (tensors view a memory map); data a file only *describes* — inflated zip
/// members, decompressed or never-written (fill-valued) HDF5 datasets — is charged here, so a
/// 70 KB bomb cannot make alexconv allocate gigabytes.
public enum ImportLimits {
    /// Bytes of decoded data one import may allocate in total: 4 GiB (a float64 AlexNet is ~0.5 GiB).
    public static let maxDecodedBytes = 4 << 30
    /// Tensors one file may hold: 65,536 (an AlexNet has 16; a checkpoint with optimizer state a few
    /// hundred). Readers that pay per tensor before building it (a JSON header, pickled storages)
    /// check early; every bundle is checked once read.
    public static let maxTensors = 65_536
    /// Bytes of all tensor names of one file together: 16 MiB.
    public static let maxTensorNameBytes = 16 << 20

    /// Throws a `FormatError(.limit)` when `count` tensors are more than one file may hold.
    public static func checkTensorCount(_ count: Int, what: String = "tensors") throws {
        guard count <= maxTensors else {
            throw FormatError(.limit, "holds \(count) \(what), more than the \(maxTensors) alexconv reads from one file")
        }
    }

    /// Checks a read bundle against the tensor-count and name-size limits.
    public static func check(_ bundle: TensorBundle) throws {
        try checkTensorCount(bundle.tensors.count)
        var nameBytes = 0
        for tensor in bundle.tensors { nameBytes += tensor.name.utf8.count }
        guard nameBytes <= maxTensorNameBytes else {
            throw FormatError(.limit, "tensor names take \(nameBytes) bytes, more than the \(maxTensorNameBytes >> 20) MiB alexconv reads from one file")
        }
    }
}

/// Running total of decoded bytes allocated by the import in progress (a task-local, so parallel
/// imports never share one). Readers call `AllocationBudget.charge` before allocating; a
/// `FormatError` naming what was being decoded is thrown when the import would exceed its limit.
public final class AllocationBudget: @unchecked Sendable {
    /// The budget of the import running on this task or thread, if one was started.
    @TaskLocal public static var current: AllocationBudget?

    /// Bytes this import may allocate.
    public let limit: Int
    private let lock = NSLock()
    private var used = 0

    public init(limit: Int = ImportLimits.maxDecodedBytes) { self.limit = limit }

    /// Bytes charged so far.
    public var charged: Int { lock.withLock { used } }

    /// Runs `body` (one import) with a fresh budget of `limit` bytes. Inside an import that
    /// already has a budget (a `.keras` archive reading its inner HDF5 file), `body` shares it.
    public static func withImportBudget<T>(limit: Int = ImportLimits.maxDecodedBytes, _ body: () throws -> T) rethrows -> T {
        if current != nil { return try body() }
        return try $current.withValue(AllocationBudget(limit: limit)) { try body() }
    }

    /// Charges `bytes` about to be allocated for `what` to the current import (or, outside an
    /// import, checks them against the limit alone); throws before anything is allocated.
    public static func charge(_ bytes: Int, what: String) throws {
        guard bytes >= 0 else { throw FormatError(.malformed, location: what, "negative size \(bytes)") }
        if let budget = current {
            try budget.charge(bytes, what: what)
        } else if bytes > ImportLimits.maxDecodedBytes {
            throw exceeded(bytes, total: bytes, limit: ImportLimits.maxDecodedBytes, what: what)
        }
    }

    /// Charges `bytes` for `what` to this budget.
    public func charge(_ bytes: Int, what: String) throws {
        try lock.withLock {
            let (total, overflow) = used.addingReportingOverflow(bytes)
            guard !overflow, total <= limit else {
                throw AllocationBudget.exceeded(bytes, total: overflow ? Int.max : total, limit: limit, what: what)
            }
            used = total
        }
    }

    private static func exceeded(_ bytes: Int, total: Int, limit: Int, what: String) -> FormatError {
        FormatError(
            .limit, location: what,
            "decoding needs \(bytes) bytes (\(total) for this import), more than the limit of \(limit) bytes for data that is not stored in the file as is (compression or fill-value bomb?)")
    }
}
