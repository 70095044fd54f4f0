import Foundation
import AlexConvCore
import AlexConvForward
import TestSupport

/// Shared helpers: the fixture script's deterministic inputs and comparisons.
enum ForwardFixtures {
    static let names = Presets.all.map(\.name) + ["custom-ops"]
    static let caffePresets: Set<String> = ["caffe-alexnet", "caffenet"]
    /// The kernel sets this build can run: the reference path, and oneDNN where it is linked.
    static let kernels: [ForwardKernels] = ForwardKernels.oneDNNAvailable ? [.reference, .oneDNN] : [.reference]

    /// The script's `det_input`: a 32-bit hash of the flat index mapped to -1000...1000, times `step`.
    static func deterministicInput(_ n: Int, _ c: Int, _ h: Int, _ w: Int, seed: UInt32 = 7, step: Float) -> Tensor {
        let count = n * c * h * w
        var values = [Float](repeating: 0, count: count)
        for i in 0..<count {
            var x = UInt32(truncatingIfNeeded: i) &* 2654435761 &+ seed
            x ^= x >> 15
            x = x &* 2246822519
            x ^= x >> 13
            values[i] = Float(Int(x % 2001) - 1000) * step
        }
        return Tensor(values, shape: [n, c, h, w])
    }

    static func step(_ name: String) -> Float { caffePresets.contains(name) ? 1.0 / 8.0 : 1.0 / 64.0 }

    static func model(_ name: String) throws -> Model {
        try CanonicalFile.read(path: FixturePaths.path("forward/\(name).alexnet.safetensors"))
    }

    /// The batch the goldens were computed on (3 items).
    static func input(for name: String, spec: ArchitectureSpec) -> Tensor {
        deterministicInput(3, spec.input.channels, spec.input.height, spec.input.width, step: step(name))
    }

    static func golden(_ file: String) throws -> [Float] {
        try NPYFile.read(path: FixturePaths.path("forward/\(file)")).floats()
    }

    /// max |a - b| / max |b|, index by index.
    static func relativeError(_ a: [Float], _ b: [Float]) -> Float {
        precondition(a.count == b.count, "lengths differ: \(a.count) vs \(b.count)")
        let scale = b.reduce(Float(0)) { max($0, abs($1)) }
        return maxAbsDiff(a, b) / max(scale, .leastNormalMagnitude)
    }
}
