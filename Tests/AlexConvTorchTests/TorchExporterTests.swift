import AlexConvCore
import AlexConvPickle
import AlexConvZip
import Foundation
import TestSupport
import Testing

@testable import AlexConvTorch

// MARK: - Models from the fixtures' expected values

let tinyConv = [8, 16, 24, 24, 16]
let tinyFC = [32, 32]

/// A canonical model of `preset` at tiny widths whose tensors are `expected`'s, renamed by `names`
/// (source layer -> canonical layer).
func model(_ preset: Preset, expected: String, names: [String: String]) throws -> Model {
    let bundle = try expectedTensors(expected)
    let spec = preset.spec(convWidths: tinyConv, fcWidths: tinyFC, classes: 10)
    var tensors: [NamedTensor] = []
    for item in bundle.tensors {
        let parts = item.name.split(separator: ".")
        let layer = parts.dropLast().joined(separator: ".")
        guard let canonical = names[layer] else { continue }
        tensors.append(NamedTensor("\(canonical).\(parts.last!)", item.tensor))
    }
    let order = try spec.expectedTensors().map(\.name)
    tensors.sort { order.firstIndex(of: $0.name)! < order.firstIndex(of: $1.name)! }
    let model = Model(spec: spec, tensors: tensors, source: "test")
    try model.validate()
    return model
}

let torchvisionNames = [
    "features.0": "conv1", "features.3": "conv2", "features.6": "conv3", "features.8": "conv4",
    "features.10": "conv5", "classifier.1": "fc6", "classifier.4": "fc7", "classifier.6": "fc8",
]
let lrnNames = [
    "features.0": "conv1", "features.4": "conv2", "features.8": "conv3", "features.10": "conv4",
    "features.12": "conv5", "classifier.1": "fc6", "classifier.4": "fc7", "classifier.6": "fc8",
]
let alexnet8Names = [
    "layer1.0": "conv1", "layer2.0": "conv2", "layer3": "conv3", "layer4": "conv4",
    "layer5.0": "conv5", "layer6": "fc6", "layer7": "fc7", "layer8": "fc8",
]

func exportAndRead(
    _ model: Model, format: String = "pth", naming: String? = nil, dtype: DType? = nil,
    file: String = "out"
) throws -> (path: String, bundle: TensorBundle) {
    let exporter: any ModelExporter.Type = format == "pth" ? TorchExporter.self : SafetensorsExporter.self
    let path = FixturePaths.temporaryDirectory("torch-export") + "/\(file)" + exporter.fileExtension(for: format)
    try exporter.export(model, format: format, to: path, options: ExportOptions(naming: naming, dtype: dtype))
    let bundle = format == "pth" ? try TorchArchiveReader.read(path: path) : try Safetensors.read(path: path)
    return (path, bundle)
}

// MARK: - Round trips through the fixtures torch wrote

@Test func torchvisionRoundTripMatchesTorchsOwnFile() throws {
    let (_, bundle) = try exportAndRead(try model(Presets.torchvision, expected: "torchvision", names: torchvisionNames))
    let original = try TorchArchiveReader.read(path: torchFixture("torchvision.pth"))
    #expect(bundle.tensors.map(\.name) == original.tensors.map(\.name))
    expectBitExact(bundle, try expectedTensors("torchvision"))
}

@Test func lrnPresetsUseShiftedFeatureIndices() throws {
    let (_, bundle) = try exportAndRead(try model(Presets.alexnetV1, expected: "alexnet_v1", names: lrnNames))
    let original = try TorchArchiveReader.read(path: torchFixture("alexnet_v1.pth"))
    #expect(bundle.tensors.map(\.name) == original.tensors.map(\.name))
    expectBitExact(bundle, try expectedTensors("alexnet_v1"))
}

@Test func alexnet8DefaultsToLayerNames() throws {
    let (_, bundle) = try exportAndRead(try model(Presets.alexnet8, expected: "alexnet8", names: alexnet8Names))
    let original = try TorchArchiveReader.read(path: torchFixture("alexnet8_net.pth"))
    #expect(bundle.tensors.map(\.name) == original.tensors.map(\.name))
    expectBitExact(bundle, try expectedTensors("alexnet8"))
}

@Test func caffePresetSequentialAndCanonicalNaming() throws {
    let caffeNames = Dictionary(uniqueKeysWithValues: ["conv1", "conv2", "conv3", "conv4", "conv5", "fc6", "fc7", "fc8"].map { ($0, $0) })
    let m = try model(Presets.caffeAlexNet, expected: "caffe_grouped", names: caffeNames)
    let (_, sequential) = try exportAndRead(m)
    #expect(
        sequential.tensors.map(\.name).filter { $0.hasSuffix("weight") } == [
            "features.0.weight", "features.4.weight", "features.8.weight", "features.10.weight", "features.12.weight",
            "classifier.0.weight", "classifier.3.weight", "classifier.6.weight",
        ])
    #expect(sequential["features.4.weight"]?.shape == [16, 4, 5, 5])
    let (_, canonical) = try exportAndRead(m, naming: "canonical")
    expectBitExact(canonical, try expectedTensors("caffe_grouped"))
}

@Test func batchNormGetsRunningStatsAndNumBatchesTracked() throws {
    let spec = Presets.kerasBN.spec(convWidths: tinyConv, fcWidths: tinyFC, classes: 10)
    let tensors = try spec.expectedTensors().enumerated().map { i, item in
        NamedTensor(item.name, Tensor((0..<item.shape.reduce(1, *)).map { Float(($0 + i) % 7) * 0.125 }, shape: item.shape))
    }
    let m = Model(spec: spec, tensors: tensors, source: "test")
    let (path, bundle) = try exportAndRead(m)
    #expect(
        bundle.tensors.map(\.name).prefix(7) == [
            "features.0.weight", "features.0.bias", "features.2.weight", "features.2.bias",
            "features.2.running_mean", "features.2.running_var", "features.2.num_batches_tracked",
        ])
    #expect(bundle["features.2.num_batches_tracked"]?.dtype == .int64)
    #expect(bundle["features.2.num_batches_tracked"]?.shape == [])
    #expect(bundle["features.2.running_var"]?.bitwiseEqual(m["bn1.running_var"]!) == true)
    // _metadata: BatchNorm modules at version 2.
    let archive = try ZipArchive(path: path)
    let pickle = try PickleReader.read(storage: try archive.bytes(named: "out/data.pkl"), allowedGlobals: TorchGlobals.allowed)
    let metadata = try #require(pickle.value.object?.state?.dictEntries?.first?.value.dictEntries)
    let versions = Dictionary(uniqueKeysWithValues: metadata.map { ($0.key.text!, $0.value.dictEntries!.first!.value.int!) })
    #expect(versions[""] == 1 && versions["features"] == 1 && versions["features.2"] == 2 && versions["classifier.1"] == 1)
}

@Test func halfPrecisionExport() throws {
    let (_, bundle) = try exportAndRead(try model(Presets.torchvision, expected: "torchvision", names: torchvisionNames), dtype: .float16)
    expectBitExact(bundle, try expectedTensors("torchvision"), as: .float16)
}

@Test func safetensorsExportUsesTorchNames() throws {
    let m = try model(Presets.torchvision, expected: "torchvision", names: torchvisionNames)
    let (_, bundle) = try exportAndRead(m, format: "safetensors")
    expectBitExact(bundle, try expectedTensors("torchvision"))
    #expect(!CanonicalFile.isCanonical(bundle))
    #expect(bundle.metadata["format"] == "pt")
}

@Test func unknownNamingIsAUsageError() throws {
    let m = try model(Presets.torchvision, expected: "torchvision", names: torchvisionNames)
    #expect(throws: UsageError.self) { try exportAndRead(m, naming: "keras") }
}

// MARK: - The archive is what torch.load(weights_only=True) accepts

@Test func archiveLayoutMatchesTorch() throws {
    let (path, _) = try exportAndRead(
        try model(Presets.torchvision, expected: "torchvision", names: torchvisionNames),
        file: "my model")
    let archive = try ZipArchive(path: path)
    let names = archive.entries.map(\.name)
    #expect(names.prefix(4) == ["my_model/data.pkl", "my_model/.format_version", "my_model/.storage_alignment", "my_model/byteorder"])
    #expect(names.suffix(2) == ["my_model/version", "my_model/.data/serialization_id"])
    #expect(names.filter { $0.hasPrefix("my_model/data/") } == (0..<16).map { "my_model/data/\($0)" })
    for entry in archive.entries {
        #expect(entry.compression == .stored)
        #expect(entry.dataOffset % 64 == 0, "\(entry.name)")
        try archive.verifyChecksum(of: entry)
    }
}

@Test func pickleUsesOnlyTheSafeLoadersOpcodesAndGlobals() throws {
    let (path, _) = try exportAndRead(try model(Presets.torchvision, expected: "torchvision", names: torchvisionNames))
    let archive = try ZipArchive(path: path)
    let bytes = Array(try archive.bytes(named: "out/data.pkl").bytes)
    // Reads with only the three globals a state dict needs.
    _ = try PickleReader.read(bytes: bytes, allowedGlobals: ["collections.OrderedDict", "torch._utils._rebuild_tensor_v2", "torch.FloatStorage"])
    // Every opcode is one weights_only accepts (formats.md).
    let allowed: Set<PickleOpcode> = [
        .proto, .global, .newObj, .reduce, .build, .append, .appends, .setItem, .setItems,
        .mark, .tuple, .tuple1, .tuple2, .tuple3, .none, .newTrue, .newFalse, .emptyTuple,
        .emptyList, .emptyDict, .binInt, .binInt1, .binInt2, .binFloat, .binUnicode,
        .binPersID, .binGet, .longBinGet, .binPut, .longBinPut, .long1, .stop,
    ]
    var seen = Set<PickleOpcode>()
    var i = 0
    while i < bytes.count {
        let op = try #require(PickleOpcode(rawValue: bytes[i]))
        seen.insert(op)
        i += 1
        switch op {
        case .proto, .binInt1, .binGet, .binPut: i += 1
        case .binInt2: i += 2
        case .binInt, .longBinGet, .longBinPut: i += 4
        case .binFloat: i += 8
        case .binUnicode:
            let n = Int(bytes[i]) | Int(bytes[i + 1]) << 8 | Int(bytes[i + 2]) << 16 | Int(bytes[i + 3]) << 24
            i += 4 + n
        case .long1: i += 1 + Int(bytes[i])
        case .global:
            for _ in 0..<2 {
                while bytes[i] != 0x0A { i += 1 }
                i += 1
            }
        default: break
        }
    }
    #expect(seen.isSubset(of: allowed), "\(seen.subtracting(allowed))")
}

// MARK: - Towers

/// Two-tower caffe weights exported with one tower: conv2/4/5 become block-diagonal OIHW, exactly
/// what `np.zeros((out, in, kh, kw)); w[o, g*inPer:(g+1)*inPer] = grouped[o]` gives.
@Test func oneTowerExportIsBlockDiagonal() throws {
    let caffeNames = Dictionary(uniqueKeysWithValues: ["conv1", "conv2", "conv3", "conv4", "conv5", "fc6", "fc7", "fc8"].map { ($0, $0) })
    let grouped = try model(Presets.caffeAlexNet, expected: "caffe_grouped", names: caffeNames)
    let (_, bundle) = try exportAndRead(grouped.expandingTowers(), naming: "canonical")
    for layer in ["conv2", "conv4", "conv5"] {
        let source = try grouped.tensor("\(layer).weight")
        let (out, inPer, kh, kw) = (source.shape[0], source.shape[1], source.shape[2], source.shape[3])
        let written = try #require(bundle["\(layer).weight"])
        #expect(written.shape == [out, inPer * 2, kh, kw])
        let src = source.floats()
        let dst = written.floats()
        var expected = [Float](repeating: 0, count: out * inPer * 2 * kh * kw)
        for o in 0..<out {
            let g = o / (out / 2)
            for i in 0..<inPer {
                for k in 0..<(kh * kw) {
                    expected[((o * inPer * 2) + g * inPer + i) * kh * kw + k] = src[(o * inPer + i) * kh * kw + k]
                }
            }
        }
        #expect(dst == expected, "\(layer)")
    }
    // Ungrouped layers pass through bit-exactly.
    #expect(bundle["conv3.weight"]!.bitwiseEqual(try grouped.tensor("conv3.weight")))
    #expect(bundle["fc6.weight"]!.bitwiseEqual(try grouped.tensor("fc6.weight")))
}
