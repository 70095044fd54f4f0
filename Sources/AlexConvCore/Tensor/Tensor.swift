import Foundation

/// A typed, strided view of bytes: the one tensor type of alexconv.
///
/// Layout changes (transpose, reverse an axis, reshape) make new views without copying; bytes are
/// gathered only when a tensor is materialised (`contiguous(as:)`) or streamed (`forEachChunk`).
/// `shape` is the logical shape; elements are in row-major order of `shape`. Source bytes may be
/// big-endian (`byteOrder`); materialised tensors are always little-endian and contiguous.
public struct Tensor: @unchecked Sendable {
    public enum ByteOrder: Sendable, Equatable { case little, big }

    /// Element type of the viewed bytes.
    public let dtype: DType
    /// Byte order of the viewed bytes.
    public let byteOrder: ByteOrder
    /// Logical shape: the row-major order of the view's elements, read with this shape.
    public let shape: [Int]
    /// The viewed bytes.
    public let storage: ByteStorage
    /// Byte offset of element (0, ..., 0) of the view.
    let byteOffset: Int
    /// Shape and element strides of the strided view (may differ from `shape` after a reshape of
    /// a non-contiguous view: then `shape` reinterprets the view's row-major element sequence).
    let viewShape: [Int]
    let viewStrides: [Int]

    /// Number of elements.
    public var count: Int { shape.reduce(1, *) }
    /// Number of bytes when materialised in `dtype`.
    public var byteCount: Int { count * dtype.size }
    public var rank: Int { shape.count }

    /// Views `storage` from `byteOffset` as `dtype` with `shape`, C-contiguous unless `strides`
    /// (in elements) are given. Throws a `FormatError` naming `name` if any element would lie
    /// outside the storage or the sizes overflow.
    public init(
        storage: ByteStorage, byteOffset: Int = 0, dtype: DType, shape: [Int],
        strides: [Int]? = nil, byteOrder: ByteOrder = .little, name: String = "tensor"
    ) throws {
        let count = try checkedElementCount(shape, what: name)
        let strides = strides ?? Tensor.contiguousStrides(shape)
        guard strides.count == shape.count else {
            throw FormatError(.corrupted, location: name, "stride count \(strides.count) does not match rank \(shape.count)")
        }
        guard byteOffset >= 0 else { throw FormatError(.malformed, location: name, "negative data offset \(byteOffset)") }
        if count > 0 {
            // Lowest and highest element offsets the view touches, checked against the storage.
            var low = 0
            var high = 0
            for (dim, stride) in zip(shape, strides) {
                let span = try checkedMultiply(dim - 1, Swift.abs(stride), what: name)
                if stride < 0 { low -= span } else { high += span }
            }
            let firstByte = byteOffset + low * dtype.size
            let (lastElement, o1) = high.addingReportingOverflow(1)
            let (lastBytes, o2) = lastElement.multipliedReportingOverflow(by: dtype.size)
            let (endByte, o3) = byteOffset.addingReportingOverflow(lastBytes)
            if o1 || o2 || o3 || firstByte < 0 || endByte > storage.bytes.count {
                throw FormatError(
                    .malformed, location: name,
                    "data needs bytes up to \(o1 || o2 || o3 ? Int.max : endByte), only \(storage.bytes.count) available (shape \(shape), \(dtype.name))")
            }
        }
        self.storage = storage
        self.byteOffset = byteOffset
        self.dtype = dtype
        self.byteOrder = byteOrder
        self.shape = shape
        self.viewShape = shape
        self.viewStrides = strides
    }

    private init(
        storage: ByteStorage, byteOffset: Int, dtype: DType, byteOrder: ByteOrder,
        shape: [Int], viewShape: [Int], viewStrides: [Int]
    ) {
        self.storage = storage
        self.byteOffset = byteOffset
        self.dtype = dtype
        self.byteOrder = byteOrder
        self.shape = shape
        self.viewShape = viewShape
        self.viewStrides = viewStrides
    }

    /// A new contiguous little-endian tensor holding `values` with `shape`.
    public init(_ values: [Float], shape: [Int]) {
        precondition(values.count == shape.reduce(1, *), "value count \(values.count) does not match shape \(shape)")
        let (storage, buffer) = ByteStorage.zeroed(count: values.count * 4)
        values.withUnsafeBytes { buffer.copyMemory(from: $0) }
        self.init(
            storage: storage, byteOffset: 0, dtype: .float32, byteOrder: .little,
            shape: shape, viewShape: shape, viewStrides: Tensor.contiguousStrides(shape))
    }

    /// A new zero-filled contiguous tensor.
    public static func zeros(_ shape: [Int], dtype: DType = .float32) -> Tensor {
        let count = shape.reduce(1, *)
        let (storage, _) = ByteStorage.zeroed(count: count * dtype.size)
        return Tensor(
            storage: storage, byteOffset: 0, dtype: dtype, byteOrder: .little,
            shape: shape, viewShape: shape, viewStrides: contiguousStrides(shape))
    }

    /// Row-major strides (in elements) of `shape`.
    public static func contiguousStrides(_ shape: [Int]) -> [Int] {
        var strides = [Int](repeating: 1, count: shape.count)
        var running = 1
        for axis in stride(from: shape.count - 1, through: 0, by: -1) {
            strides[axis] = running
            running *= Swift.max(shape[axis], 1)
        }
        return strides
    }

    /// True when the bytes are little-endian and laid out row-major with no gaps.
    public var isContiguous: Bool {
        byteOrder == .little && shape == viewShape && viewStrides == Tensor.contiguousStrides(viewShape)
            || byteOrder == .little && isViewContiguous && shape.reduce(1, *) == viewShape.reduce(1, *)
    }

    private var isViewContiguous: Bool {
        var expected = 1
        for axis in stride(from: viewShape.count - 1, through: 0, by: -1) where viewShape[axis] != 1 {
            if viewStrides[axis] != expected { return false }
            expected *= viewShape[axis]
        }
        return true
    }

    // MARK: - Views

    /// The same elements with axes permuted: result axis i is this tensor's axis `order[i]`.
    public func transposed(_ order: [Int]) -> Tensor {
        precondition(Set(order) == Set(0..<rank) && order.count == rank, "bad axis order \(order) for rank \(rank)")
        let base = shape == viewShape ? self : materialized()
        return Tensor(
            storage: base.storage, byteOffset: base.byteOffset, dtype: dtype, byteOrder: base.byteOrder,
            shape: order.map { base.shape[$0] }, viewShape: order.map { base.viewShape[$0] },
            viewStrides: order.map { base.viewStrides[$0] })
    }

    /// The same elements in row-major order with another shape of equal element count.
    public func reshaped(_ newShape: [Int]) -> Tensor {
        precondition(newShape.reduce(1, *) == count, "cannot reshape \(shape) to \(newShape)")
        if isViewContiguous && viewShape.reduce(1, *) == count {
            return Tensor(
                storage: storage, byteOffset: byteOffset, dtype: dtype, byteOrder: byteOrder,
                shape: newShape, viewShape: newShape, viewStrides: Tensor.contiguousStrides(newShape))
        }
        return Tensor(
            storage: storage, byteOffset: byteOffset, dtype: dtype, byteOrder: byteOrder,
            shape: newShape, viewShape: viewShape, viewStrides: viewStrides)
    }

    /// The same tensor with the order of indices along `axis` reversed.
    public func reversed(axis: Int) -> Tensor {
        let base = shape == viewShape ? self : materialized()
        var strides = base.viewStrides
        let offset = base.byteOffset + (base.viewShape[axis] - 1) * strides[axis] * dtype.size
        strides[axis] = -strides[axis]
        return Tensor(
            storage: base.storage, byteOffset: offset, dtype: dtype, byteOrder: base.byteOrder,
            shape: base.shape, viewShape: base.viewShape, viewStrides: strides)
    }

    /// The sub-tensor with indices `range` along `axis`.
    public func sliced(axis: Int, _ range: Range<Int>) -> Tensor {
        precondition(range.lowerBound >= 0 && range.upperBound <= shape[axis], "slice \(range) out of \(shape[axis])")
        let base = shape == viewShape ? self : materialized()
        var newShape = base.viewShape
        newShape[axis] = range.count
        let offset = base.byteOffset + range.lowerBound * base.viewStrides[axis] * dtype.size
        return Tensor(
            storage: base.storage, byteOffset: offset, dtype: dtype, byteOrder: base.byteOrder,
            shape: newShape, viewShape: newShape, viewStrides: base.viewStrides)
    }

    // MARK: - Materialising

    /// A contiguous little-endian copy in `dtype` (this tensor itself when nothing needs to change).
    public func contiguous(as target: DType? = nil) -> Tensor {
        let target = target ?? dtype
        if target == dtype && isContiguous { return self }
        return materialized(as: target)
    }

    private func materialized(as target: DType? = nil) -> Tensor {
        let target = target ?? dtype
        let (newStorage, buffer) = ByteStorage.zeroed(count: count * target.size)
        if let base = buffer.baseAddress, count > 0 {
            gatherRows(0..<(viewShape.first ?? 1), into: base, as: target)
        }
        return Tensor(
            storage: newStorage, byteOffset: 0, dtype: target, byteOrder: .little,
            shape: shape, viewShape: shape, viewStrides: Tensor.contiguousStrides(shape))
    }

    /// The contiguous bytes of this tensor as `dtype`, valid inside `body`.
    public func withContiguousBytes<R>(as target: DType? = nil, _ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        let tensor = contiguous(as: target)
        let start = tensor.storage.bytes.baseAddress.map { $0 + tensor.byteOffset }
        return try body(UnsafeRawBufferPointer(start: start, count: tensor.byteCount))
    }

    /// The elements as Float, row-major.
    public func floats() -> [Float] {
        withContiguousBytes(as: .float32) { Array($0.bindMemory(to: Float.self)) }
    }

    /// The elements as Double, row-major (exact for every float dtype; integers converted).
    public func doubles() -> [Double] {
        if dtype.isFloatingPoint {
            return withContiguousBytes(as: .float64) { Array($0.bindMemory(to: Double.self)) }
        }
        let contiguous = self.contiguous()
        return (0..<count).map { contiguous.readDouble(byteOffset: contiguous.byteOffset + $0 * dtype.size) }
    }

    /// Streams the elements as `dtype`, row-major and little-endian, in pieces of about
    /// `chunkBytes` (whole rows of the first axis), without materialising the whole tensor.
    public func forEachChunk(
        as target: DType? = nil, chunkBytes: Int = 8 << 20,
        _ body: (UnsafeRawBufferPointer) throws -> Void
    ) throws {
        let target = target ?? dtype
        if count == 0 { return }
        if target == dtype && isContiguous {
            let start = storage.bytes.baseAddress! + byteOffset
            try body(UnsafeRawBufferPointer(start: start, count: byteCount))
            return
        }
        let rows = viewShape.first ?? 1
        let rowElements = rows == 0 ? 0 : count / rows
        let rowBytes = Swift.max(rowElements * target.size, 1)
        let rowsPerChunk = Swift.max(1, chunkBytes / rowBytes)
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: rowsPerChunk * rowBytes, alignment: 64)
        defer { buffer.deallocate() }
        var row = 0
        while row < rows {
            let end = Swift.min(rows, row + rowsPerChunk)
            gatherRows(row..<end, into: buffer.baseAddress!, as: target)
            try body(UnsafeRawBufferPointer(rebasing: buffer[0..<((end - row) * rowElements * target.size)]))
            row = end
        }
    }
}

extension Tensor: CustomStringConvertible {
    public var description: String { "Tensor(\(dtype.name), \(shape))" }
}

extension Tensor {
    /// True when both tensors have the same shape and bit-identical elements in `dtype`.
    public func bitwiseEqual(_ other: Tensor) -> Bool {
        guard shape == other.shape, dtype == other.dtype else { return false }
        return withContiguousBytes { a in other.withContiguousBytes { b in a.elementsEqual(b) } }
    }
}
