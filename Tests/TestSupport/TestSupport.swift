import AlexConvCore
import Foundation

/// Paths of committed fixtures and scratch space for tests.
public enum FixturePaths {
    /// The repository's `Fixtures/` folder.
    public static let root: String = {
        var url = URL(fileURLWithPath: #filePath)
        for _ in 0..<3 { url.deleteLastPathComponent() }
        return url.appendingPathComponent("Fixtures").path
    }()

    /// Absolute path of `relative` inside `Fixtures/`.
    public static func path(_ relative: String) -> String { root + "/" + relative }

    /// A new empty temporary directory for one test.
    public static func temporaryDirectory(_ label: String = "test") -> String {
        let path = NSTemporaryDirectory() + "alexconv-\(label)-\(UUID().uuidString)"
        try! FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return path
    }
}

/// Largest |a - b| over elements compared index by index (never sorted).
public func maxAbsDiff(_ a: [Float], _ b: [Float]) -> Float {
    precondition(a.count == b.count, "lengths differ: \(a.count) vs \(b.count)")
    var worst: Float = 0
    for i in a.indices { worst = max(worst, abs(a[i] - b[i])) }
    return worst
}

/// Tiny AlexNet-shaped models with seeded random weights, in canonical form.
public enum TinyModels {
    /// Conv widths of the fixture models.
    public static let convWidths = [8, 16, 24, 24, 16]
    /// Hidden fc widths of the fixture models.
    public static let fcWidths = [32, 32]
    public static let classes = 10

    /// A canonical model of `preset` with tiny widths and deterministic weights (running variances positive).
    public static func model(_ preset: Preset, seed: UInt64 = 1) -> Model {
        let spec = preset.spec(convWidths: convWidths, fcWidths: fcWidths, classes: classes)
        var rng = SplitMix64(seed: seed)
        var tensors: [NamedTensor] = []
        for (name, shape) in try! spec.expectedTensors() {
            let count = shape.reduce(1, *)
            let values: [Float] = (0..<count).map { _ in
                let u = rng.nextUnit()
                return name.hasSuffix("running_var") ? 0.5 + u : (u - 0.5) * 0.1
            }
            tensors.append(NamedTensor(name, Tensor(values, shape: shape)))
        }
        return Model(spec: spec, tensors: tensors, source: "tiny \(preset.name)")
    }
}

/// A small deterministic generator (SplitMix64) for test data.
public struct SplitMix64 {
    var state: UInt64
    public init(seed: UInt64) { state = seed }
    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
    /// Uniform in [0, 1).
    public mutating func nextUnit() -> Float { Float(next() >> 40) / Float(1 << 24) }
}
