import AlexConvCore

/// Full-size models with pseudo-random weights, built in code for the benchmarks.
enum BenchmarkModels {
    /// A model of `spec` whose weights are uniform in ±`bound(shape)` (xorshift64 from `seed`),
    /// filled in place in each tensor's own storage (no intermediate arrays).
    static func random(_ spec: ArchitectureSpec, seed: UInt64, bound: ([Int]) -> Float) throws -> Model {
        var state = seed
        var tensors: [NamedTensor] = []
        for (name, shape) in try spec.expectedTensors() {
            let tensor = Tensor.zeros(shape)
            let values = UnsafeMutableRawPointer(mutating: tensor.storage.bytes.baseAddress!)
                .bindMemory(to: Float.self, capacity: tensor.count)
            let limit = bound(shape)
            for i in 0..<tensor.count {
                state ^= state << 13
                state ^= state >> 7
                state ^= state << 17
                values[i] = (Float(state >> 40) / Float(1 << 24) * 2 - 1) * limit
            }
            tensors.append(NamedTensor(name, tensor))
        }
        return Model(spec: spec, tensors: tensors, source: "random (benchmark)")
    }
}
