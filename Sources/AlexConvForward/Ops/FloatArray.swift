import AlexConvCore

// MARK: - Owned float buffers

/// A float32 buffer the network owns (weights, activations, scratch), 64-byte aligned.
final class FloatArray: @unchecked Sendable {
    let pointer: UnsafeMutablePointer<Float>
    let count: Int

    init(count: Int) {
        self.count = count
        let raw = UnsafeMutableRawPointer.allocate(byteCount: max(count, 1) * 4, alignment: 64)
        pointer = raw.bindMemory(to: Float.self, capacity: max(count, 1))
        pointer.initialize(repeating: 0, count: max(count, 1))
    }

    /// A copy of `tensor`'s elements as float32, row-major.
    convenience init(_ tensor: Tensor) {
        self.init(count: tensor.count)
        tensor.withContiguousBytes(as: .float32) { bytes in
            if let base = bytes.baseAddress, !bytes.isEmpty {
                UnsafeMutableRawPointer(pointer).copyMemory(from: base, byteCount: bytes.count)
            }
        }
    }

    deinit { UnsafeMutableRawPointer(pointer).deallocate() }
}
