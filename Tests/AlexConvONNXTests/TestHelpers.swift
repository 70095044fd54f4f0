import AlexConvCore
import Foundation
import TestSupport
import Testing

@testable import AlexConvONNX

// MARK: - Minimal .npy reading (fixture inputs and outputs only: v1, little-endian, C order)

/// A fixture array: shape and values as Float.
struct NpyArray {
    var shape: [Int]
    var values: [Float]
}

enum NpyFixture {
    /// Reads a v1 `.npy` of `|u1` or `<f4` written by `np.save` (C order).
    static func read(_ path: String) throws -> NpyArray {
        let data = try Data(contentsOf: URL(fileURLWithPath: path))
        let bytes = [UInt8](data)
        guard bytes.count > 10, bytes[0] == 0x93, bytes[6] == 1 else { throw FormatError(.malformed, file: path, "not a v1 npy") }
        let headerLength = Int(bytes[8]) | Int(bytes[9]) << 8
        let header = String(decoding: bytes[10..<(10 + headerLength)], as: UTF8.self)
        let body = Array(bytes[(10 + headerLength)...])
        guard header.contains("'fortran_order': False") else { throw FormatError(.malformed, file: path, "fortran order") }
        let shapeText = header.components(separatedBy: "'shape': (")[1].components(separatedBy: ")")[0]
        let shape = shapeText.split(separator: ",").compactMap { Int($0.trimmingCharacters(in: .whitespaces)) }
        let count = shape.reduce(1, *)
        if header.contains("'|u1'") {
            return NpyArray(shape: shape, values: body.prefix(count).map { Float($0) })
        }
        guard header.contains("'<f4'") else { throw FormatError(.malformed, file: path, "unexpected dtype in \(header)") }
        let values = body.withUnsafeBytes { raw in (0..<count).map { raw.loadUnaligned(fromByteOffset: $0 * 4, as: Float.self) } }
        return NpyArray(shape: shape, values: values)
    }

    /// The float32 network input a fixture's uint8 input stands for: (u8 - 128) / 32.
    static func decodedInput(_ name: String) throws -> [Float] {
        try read(FixturePaths.path("onnx/\(name)_input.npy")).values.map { ($0 - 128) / 32 }
    }
}

// MARK: - Tiny models

enum TinyModels {
    static let convWidths = [8, 16, 24, 24, 16]
    static let fcWidths = [32, 32]
    static let classes = 10

    /// A preset's spec with the fixture widths and deterministic weights (a fixed LCG; running
    /// variances positive, BN scales near 1).
    static func model(_ preset: Preset, seed: UInt64 = 1) throws -> Model {
        let spec = preset.spec(convWidths: convWidths, fcWidths: fcWidths, classes: classes)
        return try model(spec, seed: seed)
    }

    static func model(_ spec: ArchitectureSpec, seed: UInt64 = 1) throws -> Model {
        var state = seed &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
        func next() -> Float {
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            let unit = Float(state >> 40) / Float(1 << 24)  // [0, 1)
            return (unit * 2 - 1) * 0.1
        }
        var tensors: [NamedTensor] = []
        for (name, shape) in try spec.expectedTensors() {
            var values = (0..<shape.reduce(1, *)).map { _ in next() }
            if name.hasSuffix("running_var") { values = values.map { abs($0) + 0.5 } }
            if name.hasPrefix("bn"), name.hasSuffix(".weight") { values = values.map { $0 + 1 } }
            tensors.append(NamedTensor(name, Tensor(values, shape: shape)))
        }
        let model = Model(spec: spec, tensors: tensors, source: "tiny \(spec.name) (test)")
        try model.validate()
        return model
    }
}

// MARK: - Comparisons

/// Expects `a` and `b` to hold the same tensors (names, order, shapes, float32 bits).
func expectSameTensors(_ a: [NamedTensor], _ b: [NamedTensor], sourceLocation: SourceLocation = #_sourceLocation) {
    #expect(a.map(\.name) == b.map(\.name), sourceLocation: sourceLocation)
    for (x, y) in zip(a, b) {
        #expect(x.tensor.shape == y.tensor.shape, "\(x.name) shape", sourceLocation: sourceLocation)
        let xb = x.tensor.floats().map(\.bitPattern)
        let yb = y.tensor.floats().map(\.bitPattern)
        #expect(xb == yb, "\(x.name) values differ", sourceLocation: sourceLocation)
    }
}

/// The model a bundle from the ONNX reader stands for (its tensors are already canonical).
func model(from bundle: TensorBundle) throws -> Model {
    let spec = try #require(bundle.spec)
    let model = Model(
        spec: spec, tensors: bundle.tensors.map { NamedTensor($0.name, $0.tensor.contiguous(as: .float32)) },
        source: bundle.path)
    try model.validate()
    return model
}

/// Runs `body` and returns the error it throws, described; fails the test when nothing is thrown.
func errorText(_ body: () throws -> Void, sourceLocation: SourceLocation = #_sourceLocation) -> String {
    do {
        try body()
        Issue.record("expected an error", sourceLocation: sourceLocation)
        return ""
    } catch {
        return "\(error)"
    }
}
