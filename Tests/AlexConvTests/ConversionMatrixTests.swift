import AlexConvForward
import Foundation
import TestSupport
import Testing

@testable import AlexConv

/// Every preset's fixture model through every export format and back: tensors bit-exact, the same
/// architecture, and the forward pass unchanged. Formats that do not carry the architecture
/// (npy, npz) are re-imported with the spec given explicitly, as a user would with --arch.
@Suite struct ConversionMatrixTests {
    static let presets = ["caffe-alexnet", "caffenet", "torchvision", "alexnet-v1", "alexnet-v2", "half", "keras-bn", "alexnet8", "keras-2048"]
    static let formats = ["npy", "npz", "pth", "safetensors", "onnx", "h5", "weights.h5", "keras", "alexnet", "caffemodel"]
    /// Formats whose files carry the full spec (architecture and input conventions).
    static let carrySpec: Set<String> = ["pth", "safetensors", "onnx", "alexnet", "caffemodel"]

    func input(for spec: ArchitectureSpec) -> Tensor {
        var rng = SplitMix64(seed: 7)
        let count = 2 * 3 * spec.input.height * spec.input.width
        return Tensor((0..<count).map { _ in rng.nextUnit() * 2 - 1 }, shape: [2, 3, spec.input.height, spec.input.width])
    }

    @Test(arguments: presets)
    func everyFormatRoundTrips(preset: String) throws {
        let source = FixturePaths.path("forward/\(preset).alexnet.safetensors")
        let model = try ModelLoader.load(path: source)
        let dir = FixturePaths.temporaryDirectory("matrix-\(preset)")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let specPath = dir + "/spec.json"
        try model.spec.json(pretty: true).write(toFile: specPath, atomically: true, encoding: .utf8)
        let x = input(for: model.spec)
        let expected = try Network(model: model).run(x).floats()

        for format in Self.formats {
            let exporter = try FormatRegistry.exporter(for: format)
            let path = dir + "/m" + exporter.fileExtension(for: format)
            // The model's own channel order (caffemodel would write BGR otherwise).
            try Conversion.export(
                model, inputPath: source,
                request: ExportRequest(
                    format: format, output: path,
                    channels: model.spec.input.channelOrder, force: true))
            let back = try ModelLoader.load(path: path, arch: Self.carrySpec.contains(format) ? nil : specPath)
            if Self.carrySpec.contains(format) {
                #expect(back.spec == model.spec, "\(preset) via \(format): spec changed")
            } else {
                #expect(back.spec.layers == model.spec.layers, "\(preset) via \(format): layers changed")
            }
            for t in model.tensors {
                let same = back[t.name].map { $0.bitwiseEqual(t.tensor) } ?? false
                #expect(same, "\(preset) via \(format): \(t.name) not bit-exact")
            }
            let got = try Network(model: back).run(x).floats()
            #expect(maxAbsDiff(got, expected) == 0, "\(preset) via \(format): outputs moved")
        }
    }

    @Test func keepsArchitectureThroughTowerAndChannelChanges() throws {
        let source = FixturePaths.path("forward/caffe-alexnet.alexnet.safetensors")
        let model = try ModelLoader.load(path: source)
        let dir = FixturePaths.temporaryDirectory("matrix-towers")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let path = dir + "/one.pth"
        try Conversion.export(model, inputPath: source, request: ExportRequest(format: "pth", output: path, towers: .one, channels: .rgb))
        let back = try ModelLoader.load(path: path)
        #expect(back.spec.name == "caffe-alexnet")
        #expect(back.towersPerConv == [1, 1, 1, 1, 1])
        #expect(back.spec.input.channelOrder == .rgb)
        // Same outputs when fed the same image in its own channel order.
        let x = input(for: model.spec)
        let swapped = x.reversed(axis: 1).contiguous()
        let a = try Network(model: model).run(x).floats()
        let b = try Network(model: back).run(swapped).floats()
        #expect(maxAbsDiff(a, b) < 1e-5)
        // And back to two towers, exactly.
        let twoPath = dir + "/two.npy"
        try Conversion.export(back, inputPath: path, request: ExportRequest(format: "npy", output: twoPath, towers: .two, channels: .bgr))
        let two = try ModelLoader.load(path: twoPath)
        #expect(two.spec.name == "caffe-alexnet")
        for t in model.tensors { #expect(two[t.name]!.bitwiseEqual(t.tensor), "\(t.name)") }
    }

    @Test func outputRulesProtectInputsAndExistingFiles() throws {
        let dir = FixturePaths.temporaryDirectory("matrix-rules")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let input = dir + "/m.npy"
        try FileManager.default.copyItem(atPath: FixturePaths.path("numpy/bvlc_py2.npy"), toPath: input)
        let before = try Data(contentsOf: URL(fileURLWithPath: input))
        let model = try ModelLoader.load(path: input)
        #expect(throws: UsageError.self) {
            try Conversion.export(model, inputPath: input, request: ExportRequest(format: "npy", output: input, force: true))
        }
        let out = dir + "/m.pth"
        try Conversion.export(model, inputPath: input, request: ExportRequest(format: "pth", output: out))
        #expect(throws: UsageError.self) {
            try Conversion.export(model, inputPath: input, request: ExportRequest(format: "pth", output: out))
        }
        try Conversion.export(model, inputPath: input, request: ExportRequest(format: "pth", output: out, force: true))
        #expect(try Data(contentsOf: URL(fileURLWithPath: input)) == before)
        #expect(Conversion.stem(of: "/a/bvlc_alexnet.alexnet.safetensors") == "bvlc_alexnet")
        #expect(Conversion.stem(of: "m.weights.h5") == "m")
        #expect(FormatRegistry.format(forOutputPath: "x.weights.h5") == "weights.h5")
        #expect(FormatRegistry.format(forOutputPath: "x.alexnet.safetensors") == "alexnet")
        #expect(FormatRegistry.format(forOutputPath: "x.safetensors") == "safetensors")
    }

    @Test func inspectExplainsBvlcInPlainWords() throws {
        let report = try InspectReport.make(path: FixturePaths.path("numpy/bvlc_py2.npy"))
        let text = report.text
        #expect(text.contains("architecture: caffe-alexnet"))
        #expect(text.contains("ambiguous: caffenet"))
        #expect(text.contains("conv2: 16 filters 5x5, stride 1, padding [2, 2, 2, 2], 2 towers"))
        #expect(text.contains("(H, W, C) order"))
        #expect(text.contains("BGR"))
        let json = try JSONSerialization.jsonObject(with: Data(report.json.utf8)) as! [String: Any]
        #expect(json["architecture"] as? String == "caffe-alexnet")
        #expect(json["fc6InputOrder"] as? String == "HWC")
        // Its spec field is a valid --arch file.
        let specData = try JSONSerialization.data(withJSONObject: json["spec"]!)
        let spec = try ArchitectureSpec.parse(json: String(decoding: specData, as: UTF8.self))
        #expect(spec.name == "caffe-alexnet")
    }
}
