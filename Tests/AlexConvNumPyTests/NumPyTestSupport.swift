import AlexConvCore
import AlexConvNumPy
import Foundation
import TestSupport
import Testing

/// `Fixtures/numpy/expected.json`, written by make_numpy_fixtures.py from the arrays numpy saved.
struct ExpectedValues: Decodable {
    struct Spot: Decodable {
        let shape: [Int]
        let sum: Double
        let indices: [Int]
        let values: [Double]
    }
    struct Plain: Decodable {
        let shape: [Int]
        let values: [Double]
    }
    let tf: [String: Spot]
    let canonical: [String: Spot]
    let plain: [String: Plain]
    let layer_order: [String]

    static let shared: ExpectedValues = {
        let data = FileManager.default.contents(atPath: FixturePaths.path("numpy/expected.json"))!
        return try! JSONDecoder().decode(ExpectedValues.self, from: data)
    }()
}

func numpyFixture(_ name: String) -> String { FixturePaths.path("numpy/" + name) }

/// The plain arrays make_numpy_fixtures.py saved under Fixtures/numpy/plain/ (every header and layout variant).
let plainFixtureNames = [
    "plain_f4", "big_endian_f4", "big_endian_f8", "fortran_f4", "half_f2", "double_f8", "bytes_u1", "ints_i8",
    "scalar_f4", "empty_f4", "header_v2", "header_v3", "python2_header",
]

/// Checks `tensor` against the spot values numpy recorded, index by index, and its float64 sum.
func expectSpotValues(
    _ tensor: Tensor?, _ spot: ExpectedValues.Spot?, _ label: String,
    sourceLocation: SourceLocation = #_sourceLocation
) {
    guard let tensor, let spot else {
        Issue.record("\(label): missing tensor or expectation", sourceLocation: sourceLocation)
        return
    }
    #expect(tensor.shape == spot.shape, "\(label) shape", sourceLocation: sourceLocation)
    guard tensor.shape == spot.shape else { return }
    let values = tensor.doubles()
    for (index, expected) in zip(spot.indices, spot.values) where values[index] != expected {
        Issue.record("\(label)[\(index)] = \(values[index]), numpy wrote \(expected)", sourceLocation: sourceLocation)
        return
    }
    let sum = values.reduce(0, +)
    #expect(abs(sum - spot.sum) <= 1e-9 * max(1, abs(spot.sum)), "\(label) sum \(sum) vs \(spot.sum)", sourceLocation: sourceLocation)
}

/// The tiny caffe-alexnet spec the fixtures follow: conv [8, 16, 24, 24, 16], fc [32, 32], 10 classes.
let tinySpec = Presets.caffeAlexNet.spec(convWidths: [8, 16, 24, 24, 16], fcWidths: [32, 32], classes: 10)

/// A canonical model from a bvlc-style bundle (names `convK/0`, `convK/1`), applying the inverse
/// TF layout rules by hand (HWIO -> OIHW, (in, out) -> (out, in), fc6 rows H,W,C -> columns C,H,W).
func canonicalModel(fromBvlc bundle: TensorBundle) throws -> Model {
    var tensors: [NamedTensor] = []
    for index in 1...5 {
        let name = "conv\(index)"
        tensors.append(NamedTensor("\(name).weight", LayoutRules.hwioToOihw(try #require(bundle["\(name)/0"]))))
        tensors.append(NamedTensor("\(name).bias", try #require(bundle["\(name)/1"])))
    }
    for index in 6...8 {
        let name = "fc\(index)"
        let weight = try #require(bundle["\(name)/0"])
        let canonical =
            index == 6
            ? LayoutRules.fc6FromChannelsLast(weight, channels: 16, height: 6, width: 6)
            : LayoutRules.transposeDense(weight)
        tensors.append(NamedTensor("\(name).weight", canonical))
        tensors.append(NamedTensor("\(name).bias", try #require(bundle["\(name)/1"])))
    }
    let model = Model(spec: tinySpec, tensors: tensors, source: bundle.path)
    try model.validate()
    return model
}

/// Expects `bundle` to hold exactly the tensors of `reference` under `rename(name)`, bit for bit.
func expectBitIdentical(
    _ bundle: TensorBundle, _ reference: TensorBundle, rename: (String) -> String = { $0 },
    sourceLocation: SourceLocation = #_sourceLocation
) {
    #expect(bundle.tensors.count == reference.tensors.count, "tensor count", sourceLocation: sourceLocation)
    for named in reference.tensors {
        guard let tensor = bundle[rename(named.name)] else {
            Issue.record("missing \(rename(named.name))", sourceLocation: sourceLocation)
            continue
        }
        #expect(tensor.bitwiseEqual(named.tensor), "\(named.name) differs", sourceLocation: sourceLocation)
    }
}

/// The FormatError `body` throws, or nil (recording an issue) when it throws something else or nothing.
func formatError(_ body: () throws -> Void) -> FormatError? {
    do {
        try body()
        return nil
    } catch let error as FormatError {
        return error
    } catch {
        Issue.record("expected a FormatError, got \(type(of: error)): \(error)")
        return nil
    }
}
