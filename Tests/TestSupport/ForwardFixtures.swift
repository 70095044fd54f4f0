import AlexConvCore
import Foundation

/// The forward-pass fixtures (Fixtures/forward/): the tiny models, the fixture script's
/// deterministic inputs, and the relative error the goldens are compared with.
public enum ForwardFixtures {
    public static let names = Presets.all.map(\.name) + ["custom-ops"]
    public static let caffePresets: Set<String> = ["caffe-alexnet", "caffenet"]

    /// The script's `det_input`: a 32-bit hash of the flat index mapped to -1000...1000, times `step`.
    public static func deterministicInput(_ n: Int, _ c: Int, _ h: Int, _ w: Int, seed: UInt32 = 7, step: Float) -> Tensor {
        let count = n * c * h * w
        var values = [Float](repeating: 0, count: count)
        for i in 0..<count {
            var x = UInt32(truncatingIfNeeded: i) &* 2_654_435_761 &+ seed
            x ^= x >> 15
            x = x &* 2_246_822_519
            x ^= x >> 13
            values[i] = Float(Int(x % 2001) - 1000) * step
        }
        return Tensor(values, shape: [n, c, h, w])
    }

    public static func step(_ name: String) -> Float { caffePresets.contains(name) ? 1.0 / 8.0 : 1.0 / 64.0 }

    public static func model(_ name: String) throws -> Model {
        try CanonicalFile.read(path: FixturePaths.path("forward/\(name).alexnet.safetensors"))
    }

    /// The batch the goldens were computed on (3 items).
    public static func input(for name: String, spec: ArchitectureSpec) -> Tensor {
        deterministicInput(3, spec.input.channels, spec.input.height, spec.input.width, step: step(name))
    }

    /// max |a - b| / max |b|, index by index.
    public static func relativeError(_ a: [Float], _ b: [Float]) -> Float {
        precondition(a.count == b.count, "lengths differ: \(a.count) vs \(b.count)")
        let scale = b.reduce(Float(0)) { max($0, abs($1)) }
        return maxAbsDiff(a, b) / max(scale, .leastNormalMagnitude)
    }
}
