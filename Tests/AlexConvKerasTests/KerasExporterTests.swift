import AlexConvCore
import AlexConvHDF5
import Foundation
import TestSupport
import Testing

@testable import AlexConvKeras

/// The canonical model of a Keras fixture (spec from its config).
func kerasModel(_ file: String) throws -> Model {
    let bundle = file.hasSuffix(".keras") ? try KerasArchiveReader.read(path: kerasFixture(file)) : try KerasH5Reader.read(path: kerasFixture(file))
    return try Recognizer.recognize(bundle).model
}

func readBack(_ path: String, spec: ArchitectureSpec? = nil) throws -> (TensorBundle, Model) {
    let bundle = path.hasSuffix(".keras") ? try KerasArchiveReader.read(path: path) : try KerasH5Reader.read(path: path)
    let choice: ArchitectureChoice = spec.map { .spec($0) } ?? .detect
    return (bundle, try Recognizer.recognize(bundle, choice: choice).model)
}

func expectSameModel(_ a: Model, _ b: Model, _ label: String) {
    #expect(a.spec.layers == b.spec.layers, "\(label): spec layers differ")
    #expect(a.tensors.map(\.name) == b.tensors.map(\.name), "\(label)")
    for (x, y) in zip(a.tensors, b.tensors) {
        #expect(x.tensor.bitwiseEqual(y.tensor), "\(label): \(x.name) differs")
    }
}

@Suite struct KerasExporterTests {
    @Test(arguments: ["keras3_bn.h5", "tfkeras_functional.h5", "keras3_grouped.h5", "keras3_bn.keras"])
    func roundTripsBitExactly(file: String) throws {
        let model = try kerasModel(file)
        let dir = FixturePaths.temporaryDirectory("keras-export")
        for format in KerasExporter.formats {
            let out = dir + "/model" + KerasExporter.fileExtension(for: format)
            try KerasExporter.export(model, format: format, to: out, options: ExportOptions())
            let (bundle, back) = try readBack(out, spec: format == "weights.h5" ? model.spec : nil)
            #expect(bundle.layout == .channelsLast)
            if format != "weights.h5" { #expect(bundle.spec?.layers == model.spec.layers, "\(file) as \(format)") }
            expectSameModel(model, back, "\(file) as \(format)")
        }
    }

    @Test func writesWhatKerasWrites() throws {
        let model = try kerasModel("tfkeras_bn.h5")
        let dir = FixturePaths.temporaryDirectory("keras-layout")
        let out = dir + "/bn.h5"
        try KerasExporter.export(model, format: "h5", to: out, options: ExportOptions())
        let file = try HDF5File.open(path: out)
        #expect(try file.stringAttribute("backend") == "tensorflow")
        #expect(try file.stringAttribute("keras_version") == KerasExporter.kerasVersion)
        let weights = try file.group("model_weights")
        let names = try #require(try weights.stringsAttribute("layer_names"))
        #expect(names.first == "conv1" && names.contains("bn1") && names.last == "fc8")
        #expect(try weights.group("conv1").stringsAttribute("weight_names") == ["conv1/kernel:0", "conv1/bias:0"])
        #expect(try weights.group("bn1").stringsAttribute("weight_names")?.count == 4)
        #expect(try weights.group("max_pooling2d").stringsAttribute("weight_names") == [])
        let kernel = try weights.group("conv1").dataset("conv1/kernel:0").layout()
        #expect(kernel.shape == [11, 11, 3, 8] && kernel.dtype == .float32 && kernel.contiguousOffset != nil)
        // fc6 rows in (H, W, C) order, as Keras' Flatten gives them: identical to the tf-keras file.
        let source = try KerasH5Reader.read(path: kerasFixture("tfkeras_bn.h5"))
        let written = try KerasH5Reader.read(path: out)
        #expect(written["fc6/kernel:0"]!.bitwiseEqual(source["dense/kernel:0"]!))
        #expect(written["conv2/kernel:0"]!.bitwiseEqual(source["conv2d_1/kernel:0"]!))
    }

    @Test func keras3WeightsFileUsesClassNamePaths() throws {
        let model = try kerasModel("keras3_bn.h5")
        let out = FixturePaths.temporaryDirectory("keras-w") + "/bn.weights.h5"
        try KerasExporter.export(model, format: "weights.h5", to: out, options: ExportOptions())
        let file = try HDF5File.open(path: out)
        #expect(try file.group("layers/conv2d_4/vars").stringAttribute("name") == "conv5")
        #expect(try file.group("layers/batch_normalization/vars").stringAttribute("name") == "bn1")
        #expect(try file.group("layers/dense_2/vars").dataset("0").layout().shape == [32, 10])
        // Same tensors, same paths as Keras 3's own save_weights of the same model.
        let ours = try KerasH5Reader.read(path: out)
        let keras = try KerasH5Reader.read(path: kerasFixture("keras3_bn.weights.h5"))
        #expect(Set(ours.tensors.map(\.name)) == Set(keras.tensors.map(\.name)))
        for t in keras.tensors { #expect(ours[t.name]!.bitwiseEqual(t.tensor), "\(t.name)") }
    }

    @Test func torchvisionPaddingBecomesZeroPadding() throws {
        let spec = Presets.torchvision.spec(convWidths: [8, 16, 24, 24, 16], fcWidths: [32, 32], classes: 10)
        let model = try syntheticModel(spec)
        let plan = try KerasModelPlan(model: model, dtype: .float32)
        #expect(plan.layers.first?.className == "ZeroPadding2D")
        #expect(plan.layers.first?.config["padding"] as? [[Int]] == [[2, 2], [2, 2]])
        #expect(!plan.layers.contains { $0.className == "AveragePooling2D" }, "the 6x6 adaptive pool is the identity at 224")
        let out = FixturePaths.temporaryDirectory("keras-tv") + "/tv.h5"
        try KerasExporter.export(model, format: "h5", to: out, options: ExportOptions())
        let back = try readBack(out).1
        #expect(back.spec.convs == spec.convs)
        for (x, y) in zip(model.tensors, back.tensors) { #expect(x.tensor.bitwiseEqual(y.tensor), "\(x.name)") }
    }

    @Test func lrnIsTheDocumentedCustomLayer() throws {
        let spec = Presets.caffeAlexNet.spec(convWidths: [8, 16, 24, 24, 16], fcWidths: [32, 32], classes: 10)
        let model = try syntheticModel(spec)
        #expect(KerasExporter.loadingNotes(for: model, format: "h5").first?.contains("custom_objects") == true)
        let out = FixturePaths.temporaryDirectory("keras-lrn") + "/caffe.h5"
        try KerasExporter.export(model, format: "h5", to: out, options: ExportOptions())
        let (bundle, back) = try readBack(out)
        #expect(bundle.spec?.layers == spec.layers)
        #expect(back.spec.name == "caffe-alexnet")
        for (x, y) in zip(model.tensors, back.tensors) { #expect(x.tensor.bitwiseEqual(y.tensor), "\(x.name)") }
    }

    @Test func failedExportLeavesNoFile() throws {
        var spec = Presets.caffeAlexNet.spec(convWidths: [8, 16, 24, 24, 16], fcWidths: [32, 32], classes: 10)
        spec.layers[2] = .lrn(LRNSpec(size: 4))
        let model = try syntheticModel(spec)
        let dir = FixturePaths.temporaryDirectory("keras-fail")
        #expect(throws: ModelError.self) { try KerasExporter.export(model, format: "h5", to: dir + "/x.h5", options: ExportOptions()) }
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir).isEmpty)
    }
}

/// A model of `spec` with seeded weights (BN variances positive).
func syntheticModel(_ spec: ArchitectureSpec, seed: UInt64 = 7) throws -> Model {
    var state = seed
    func next() -> Float {
        state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
        return Float(Int64(bitPattern: state >> 11) % 2001 - 1000) / 20000
    }
    let tensors = try spec.expectedTensors().map { name, shape in
        let count = shape.reduce(1, *)
        let values = (0..<count).map { _ in name.hasSuffix("running_var") ? 1 + abs(next()) : next() }
        return NamedTensor(name, Tensor(values, shape: shape))
    }
    return Model(spec: spec, tensors: tensors, source: "synthetic")
}
