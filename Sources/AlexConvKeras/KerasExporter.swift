import AlexConvCore
import AlexConvHDF5
import AlexConvZip
import Foundation

/// Writes a canonical `Model` as Keras files:
/// - `h5`: a legacy Keras full model (Sequential `model_config` + `model_weights`) that
///   `keras.models.load_model` opens in Keras 3 and tf-keras;
/// - `weights.h5`: a Keras 3 weights file (`model.load_weights` on the matching Sequential);
/// - `keras`: a Keras 3 archive (config.json, metadata.json, model.weights.h5).
/// Layout written: conv kernels (kh, kw, in/groups, out), dense kernels (in, out), fc6 rows in
/// (H, W, C) order (Keras' channels-last Flatten). LRN becomes the custom layer
/// `LocalResponseNormalization` (docs/keras.md), which loading needs in `custom_objects`.
public enum KerasExporter: ModelExporter {
    public static let formats = ["h5", "weights.h5", "keras"]

    public static func fileExtension(for format: String) -> String {
        switch format {
        case "weights.h5": return ".weights.h5"
        case "keras": return ".keras"
        default: return ".h5"
        }
    }

    /// The Keras format revision alexconv writes (its legacy .h5 and .keras layouts are those of Keras 3.6+).
    public static let kerasVersion = "3.6.0"
    /// Name of the custom layer class written for LRN.
    public static let lrnClassName = "LocalResponseNormalization"

    /// What loading the exported file needs beyond `keras.models.load_model(path)`; empty when nothing.
    /// The CLI prints these after exporting.
    public static func loadingNotes(for model: Model, format: String) -> [String] {
        guard model.spec.layers.contains(where: { if case .lrn = $0 { return true } else { return false } }) else { return [] }
        return [
            "the model has LRN, which Keras has no standard layer for: alexconv wrote the custom layer '\(lrnClassName)'. "
                + "Load with keras.models.load_model(path, custom_objects={'\(lrnClassName)': \(lrnClassName)}) using the class in docs/keras.md "
                + "(Interop/keras/alexconv_keras_layers.py)"
        ]
    }

    /// Writes `model` as `format` ("h5", "weights.h5" or "keras") to `path`, atomically.
    public static func export(_ model: Model, format: String, to path: String, options: ExportOptions) throws {
        let plan = try KerasModelPlan(model: model, dtype: options.dtype ?? .float32)
        switch format {
        case "h5":
            try writeAtomicHDF5(to: path, overwrite: options.overwrite) { file in try plan.writeLegacy(file) }
        case "weights.h5":
            try writeAtomicHDF5(to: path, overwrite: options.overwrite) { file in try plan.writeKeras3Weights(file) }
        case "keras":
            try writeArchive(plan, to: path, overwrite: options.overwrite)
        default:
            throw UsageError("the Keras exporter writes \(formats.joined(separator: ", ")), not '\(format)'")
        }
    }

    // MARK: - Files

    /// Creates the HDF5 file at the atomic writer's temporary path, fills it, closes it, renames it.
    static func writeAtomicHDF5(to path: String, overwrite: Bool, _ body: (HDF5File) throws -> Void) throws {
        try writeAtomically(to: path, overwrite: overwrite) { writer in
            try writeHDF5(at: writer.temporaryPath, reportedPath: path, body)
        }
    }

    /// Creates an HDF5 file at `scratchPath`, fills it and closes it. When filling fails (a full
    /// disk), the half-written file is truncated before libhdf5 closes it, so its final metadata
    /// flush has room and the library is left with no broken open file (which would crash the
    /// process at exit, in libhdf5's own clean-up).
    static func writeHDF5(at scratchPath: String, reportedPath: String, _ body: (HDF5File) throws -> Void) throws {
        let file = try HDF5File.create(path: scratchPath, reportedPath: reportedPath)
        try withExtendedLifetime(file) {  // the handle closes when `file` is released, after this
            do {
                try body(file)
                try file.flush()
            } catch {
                truncate(scratchPath, 0)
                throw error
            }
        }
    }

    static func writeArchive(_ plan: KerasModelPlan, to path: String, overwrite: Bool) throws {
        // The HDF5 part is written to its own temporary file first (removed on signals like every output's).
        let scratch = try TemporaryFiles.create(beside: path)
        defer { TemporaryFiles.release(scratch) }
        try writeHDF5(at: scratch, reportedPath: path) { file in try plan.writeKeras3Weights(file) }
        let weights = try ByteStorage.map(path: scratch)
        let config = try plan.kerasConfigJSON()
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.dateFormat = "yyyy-MM-dd@HH:mm:ss"
        let metadata = "{\"keras_version\": \"\(kerasVersion)\", \"date_saved\": \"\(formatter.string(from: Date()))\"}"
        try writeAtomically(to: path, overwrite: overwrite) { writer in
            let zip = ZipWriter(file: writer)
            try zip.addEntry(name: "metadata.json", bytes: Array(metadata.utf8))
            try zip.addEntry(name: "config.json", bytes: Array(config.utf8))
            try zip.addEntry(name: "model.weights.h5", size: weights.bytes.count) { sink in try sink.write(weights.bytes) }
            try zip.finish()
        }
    }
}

// MARK: - The Keras layers of a model

/// One Keras layer to write: class, name, config and weights in Keras order and layout.
struct KerasLayerPlan {
    var className: String
    var name: String
    /// Layer config fields (name, trainable and dtype are added when written).
    var config: [String: Any]
    var weights: [(role: String, tensor: Tensor)]
    /// Input shape without the batch axis, for Keras 3's build_config.
    var inputShape: [Int]
}

/// A canonical model translated into a Keras Sequential: layers, configs and weights.
struct KerasModelPlan {
    let model: Model
    let dtype: DType
    var layers: [KerasLayerPlan] = []
    let modelName: String
    let input: InputSpec

    init(model: Model, dtype: DType) throws {
        self.model = model
        self.dtype = dtype
        try model.validate()
        let spec = model.spec
        input = spec.input
        modelName = "alexconv_" + spec.name.map { $0.isLetter || $0.isNumber ? $0 : "_" }.map(String.init).joined()
        guard dtype.isFloatingPoint, dtype != .bfloat16 else {
            throw UsageError("Keras export writes float16, float32 or float64, not \(dtype.name)")
        }
        var counters: [String: Int] = [:]
        func autoName(_ className: String) -> String {
            let base = KerasModelConfig.snakeCase(className)
            let n = counters[base, default: -1] + 1
            counters[base] = n
            return n == 0 ? base : "\(base)_\(n)"
        }
        let shapes = try spec.activationShapes()
        var current = ActivationShape.map(channels: spec.input.channels, height: spec.input.height, width: spec.input.width)
        func kerasShape(_ s: ActivationShape) -> [Int] {
            switch s {
            case .map(let c, let h, let w): return [h, w, c]
            case .vector(let n): return [n]
            }
        }
        var flattenMap: (c: Int, h: Int, w: Int)?
        var skipNext = false
        for (index, layer) in spec.layers.enumerated() {
            defer { current = shapes[index] }
            if skipNext {
                skipNext = false
                continue
            }
            let next = index + 1 < spec.layers.count ? spec.layers[index + 1] : nil
            let inShape = kerasShape(current)
            func fused(_ allowSoftmax: Bool) -> String {
                switch next {
                case .relu?:
                    skipNext = true
                    return "relu"
                case .softmax? where allowSoftmax:
                    skipNext = true
                    return "softmax"
                default: return "linear"
                }
            }
            func unsupported(_ what: String) -> Error {
                ModelError("layer \(index + 1) (\(layer.typeName)) of architecture \(spec.name): \(what) has no exact Keras equivalent; export to onnx or pth instead")
            }
            switch layer {
            case .conv(let c):
                guard case .map(_, let h, let w) = current else { throw unsupported("a conv on a vector") }
                var padding = "valid"
                var shapeAfterPad = inShape
                if c.padding != [0, 0, 0, 0] {
                    let (top, bottom) = tensorflowSamePadding(size: h, kernel: c.kernel[0], stride: c.stride[0])
                    let (left, right) = tensorflowSamePadding(size: w, kernel: c.kernel[1], stride: c.stride[1])
                    if c.padding == [top, left, bottom, right] {
                        padding = "same"
                    } else {
                        layers.append(
                            KerasLayerPlan(
                                className: "ZeroPadding2D", name: autoName("ZeroPadding2D"),
                                config: [
                                    "padding": [[c.padding[0], c.padding[2]], [c.padding[1], c.padding[3]]],
                                    "data_format": "channels_last",
                                ],
                                weights: [], inputShape: inShape))
                        shapeAfterPad = [h + c.padding[0] + c.padding[2], w + c.padding[1] + c.padding[3], inShape[2]]
                    }
                }
                var weights: [(String, Tensor)] = [("kernel", LayoutRules.oihwToHwio(try model.tensor("\(c.name).weight")))]
                if c.bias { weights.append(("bias", try model.tensor("\(c.name).bias"))) }
                layers.append(
                    KerasLayerPlan(
                        className: "Conv2D", name: c.name,
                        config: [
                            "filters": c.outChannels, "kernel_size": c.kernel, "strides": c.stride, "padding": padding,
                            "data_format": "channels_last", "dilation_rate": [1, 1], "groups": c.groups,
                            "activation": fused(false), "use_bias": c.bias,
                        ], weights: weights, inputShape: shapeAfterPad))
            case .relu:
                layers.append(
                    KerasLayerPlan(
                        className: "Activation", name: autoName("Activation"), config: ["activation": "relu"],
                        weights: [], inputShape: inShape))
            case .softmax:
                layers.append(
                    KerasLayerPlan(
                        className: "Activation", name: autoName("Activation"), config: ["activation": "softmax"],
                        weights: [], inputShape: inShape))
            case .lrn(let l):
                guard l.size % 2 == 1 else { throw unsupported("LRN with an even window (\(l.size))") }
                let tf = l.tensorflowSpelling
                layers.append(
                    KerasLayerPlan(
                        className: KerasExporter.lrnClassName, name: autoName(KerasExporter.lrnClassName),
                        config: [
                            "depth_radius": tf.depthRadius, "bias": l.k, "alpha": tf.alpha, "beta": l.beta,
                        ], weights: [], inputShape: inShape))
            case .batchNorm(let b):
                if flattenMap != nil, case .vector = current { throw unsupported("batch normalisation between Flatten and the first dense layer") }
                let weights: [(String, Tensor)] = try [("gamma", "weight"), ("beta", "bias"), ("moving_mean", "running_mean"), ("moving_variance", "running_var")]
                    .map { ($0.0, try model.tensor("\(b.name).\($0.1)")) }
                layers.append(
                    KerasLayerPlan(
                        className: "BatchNormalization", name: b.name,
                        config: [
                            "axis": -1, "momentum": 0.99, "epsilon": b.epsilon, "center": true, "scale": true,
                        ], weights: weights, inputShape: inShape))
            case .maxPool(let p), .avgPool(let p):
                let isMax: Bool
                if case .maxPool = layer { isMax = true } else { isMax = false }
                guard case .map(_, let h, let w) = current else { throw unsupported("pooling a vector") }
                let floorH = windowOutputLength(size: h, padBegin: p.padding[0], padEnd: p.padding[2], kernel: p.kernel[0], stride: p.stride[0], ceil: false)
                let floorW = windowOutputLength(size: w, padBegin: p.padding[1], padEnd: p.padding[3], kernel: p.kernel[1], stride: p.stride[1], ceil: false)
                guard case .map(_, let outH, let outW) = shapes[index] else { throw unsupported("pooling") }
                var padding = "valid"
                if p.padding != [0, 0, 0, 0] || outH != floorH || outW != floorW {
                    let (top, bottom) = tensorflowSamePadding(size: h, kernel: p.kernel[0], stride: p.stride[0])
                    let (left, right) = tensorflowSamePadding(size: w, kernel: p.kernel[1], stride: p.stride[1])
                    let sameH = (h + p.stride[0] - 1) / p.stride[0]
                    let sameW = (w + p.stride[1] - 1) / p.stride[1]
                    guard p.padding == [top, left, bottom, right] || (p.padding == [0, 0, 0, 0] && p.ceilMode && top == 0 && left == 0),
                        outH == sameH, outW == sameW, isMax || !p.countIncludePad
                    else {
                        throw unsupported("pooling with padding \(p.padding)\(p.ceilMode ? " in ceil mode" : "")")
                    }
                    padding = "same"
                }
                let className = isMax ? "MaxPooling2D" : "AveragePooling2D"
                layers.append(
                    KerasLayerPlan(
                        className: className, name: autoName(className),
                        config: [
                            "pool_size": p.kernel, "strides": p.stride, "padding": padding, "data_format": "channels_last",
                        ], weights: [], inputShape: inShape))
            case .adaptiveAvgPool(let size):
                guard case .map(_, let h, let w) = current else { throw unsupported("adaptive pooling of a vector") }
                if h == size[0] && w == size[1] { continue }  // already that size: the identity
                guard h % size[0] == 0, w % size[1] == 0 else { throw unsupported("adaptive average pooling from \(h)x\(w) to \(size[0])x\(size[1])") }
                layers.append(
                    KerasLayerPlan(
                        className: "AveragePooling2D", name: autoName("AveragePooling2D"),
                        config: [
                            "pool_size": [h / size[0], w / size[1]], "strides": [h / size[0], w / size[1]], "padding": "valid",
                            "data_format": "channels_last",
                        ], weights: [], inputShape: inShape))
            case .flatten:
                guard case .map(let c, let h, let w) = current else { continue }
                flattenMap = (c, h, w)
                layers.append(
                    KerasLayerPlan(
                        className: "Flatten", name: autoName("Flatten"), config: ["data_format": "channels_last"],
                        weights: [], inputShape: inShape))
            case .dense(let d):
                var kernel = try model.tensor("\(d.name).weight")
                if let map = flattenMap {
                    kernel =
                        map.h * map.w > 1
                        ? LayoutRules.fc6ToChannelsLast(kernel, channels: map.c, height: map.h, width: map.w)
                        : LayoutRules.transposeDense(kernel)
                    flattenMap = nil
                } else {
                    kernel = LayoutRules.transposeDense(kernel)
                }
                var weights: [(String, Tensor)] = [("kernel", kernel)]
                if d.bias { weights.append(("bias", try model.tensor("\(d.name).bias"))) }
                layers.append(
                    KerasLayerPlan(
                        className: "Dense", name: d.name,
                        config: [
                            "units": d.outFeatures, "activation": fused(true), "use_bias": d.bias,
                        ], weights: weights, inputShape: inShape))
            case .dropout(let rate):
                layers.append(
                    KerasLayerPlan(
                        className: "Dropout", name: autoName("Dropout"), config: ["rate": rate],
                        weights: [], inputShape: inShape))
            }
        }
    }

    // MARK: Configs

    var inputBatchShape: [Any] { [NSNull(), input.height, input.width, input.channels] }

    /// The legacy (Keras 2 / tf.keras) model_config JSON: class_name + config per layer.
    func legacyConfigJSON() throws -> String {
        var entries: [[String: Any]] = [
            [
                "class_name": "InputLayer",
                "config": ["batch_input_shape": inputBatchShape, "dtype": "float32", "sparse": false, "ragged": false, "name": "input_1"],
            ]
        ]
        for layer in layers {
            var config = layer.config
            config["name"] = layer.name
            config["trainable"] = true
            config["dtype"] = "float32"
            entries.append(["class_name": layer.className, "config": config])
        }
        let top: [String: Any] = ["class_name": "Sequential", "config": ["name": modelName, "layers": entries]]
        return try json(top)
    }

    /// The Keras 3 `config.json` of a `.keras` archive.
    func kerasConfigJSON() throws -> String {
        let policy: [String: Any] = ["module": "keras", "class_name": "DTypePolicy", "config": ["name": "float32"], "registered_name": NSNull()]
        var entries: [[String: Any]] = [
            [
                "module": "keras.layers", "class_name": "InputLayer", "registered_name": NSNull(),
                "config": ["batch_shape": inputBatchShape, "dtype": "float32", "sparse": false, "name": "input_layer"],
            ]
        ]
        for layer in layers {
            var config = layer.config
            config["name"] = layer.name
            config["trainable"] = true
            config["dtype"] = policy
            let custom = layer.className == KerasExporter.lrnClassName
            var entry: [String: Any] = [
                "module": custom ? NSNull() : "keras.layers", "class_name": layer.className, "config": config,
                "registered_name": custom ? KerasExporter.lrnClassName : NSNull(),
            ]
            if !layer.weights.isEmpty { entry["build_config"] = ["input_shape": [NSNull()] + layer.inputShape.map { $0 as Any }] }
            entries.append(entry)
        }
        let top: [String: Any] = [
            "module": "keras", "class_name": "Sequential", "registered_name": NSNull(),
            "config": ["name": modelName, "trainable": true, "dtype": policy, "layers": entries],
            "build_config": ["input_shape": inputBatchShape],
        ]
        return try json(top)
    }

    func json(_ object: Any) throws -> String {
        let data = try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes])
        return String(decoding: data, as: UTF8.self)
    }

    // MARK: Writing

    /// Legacy full model: root attrs, `model_weights` with layer_names and per-layer weight_names.
    func writeLegacy(_ file: HDF5File) throws {
        try file.writeStringAttribute("keras_version", [KerasExporter.kerasVersion], utf8: true, array: false)
        try file.writeStringAttribute("backend", ["tensorflow"], utf8: true, array: false)
        try file.writeStringAttribute("model_config", [try legacyConfigJSON()], utf8: false, array: false)
        let weights = try file.createGroup("model_weights")
        try weights.writeStringAttribute("layer_names", layers.map(\.name), utf8: false, array: true)
        try weights.writeStringAttribute("backend", ["tensorflow"], utf8: false, array: false)
        try weights.writeStringAttribute("keras_version", [KerasExporter.kerasVersion], utf8: false, array: false)
        for layer in layers.sorted(by: { $0.name < $1.name }) {
            let group = try weights.createGroup(layer.name)
            let names = layer.weights.map { "\(layer.name)/\($0.role):0" }
            if names.isEmpty {
                try group.writeEmptyFloat64ArrayAttribute("weight_names")
            } else {
                try group.writeStringAttribute("weight_names", names, utf8: false, array: true)
            }
            for (name, weight) in zip(names, layer.weights) {
                try group.createDataset(name, dtype: dtype, shape: weight.tensor.shape).write(weight.tensor, as: dtype)
            }
        }
        let top = try weights.createGroup("top_level_model_weights")
        try top.writeEmptyFloat64ArrayAttribute("weight_names")
    }

    /// Keras 3 weights file: `layers/<snake_case class>[_N]/vars/<i>` with the layer name attribute.
    func writeKeras3Weights(_ file: HDF5File) throws {
        let root = try file.createGroup("layers")
        var counters: [String: Int] = [:]
        for layer in layers {
            let base = KerasModelConfig.snakeCase(layer.className)
            let n = counters[base, default: -1] + 1
            counters[base] = n
            let group = try root.createGroup(n == 0 ? base : "\(base)_\(n)")
            let vars = try group.createGroup("vars")
            try vars.writeStringAttribute("name", [layer.name], utf8: true, array: false)
            for (index, weight) in layer.weights.enumerated() {
                try vars.createDataset(String(index), dtype: dtype, shape: weight.tensor.shape).write(weight.tensor, as: dtype)
            }
        }
        let vars = try file.createGroup("vars")
        try vars.writeStringAttribute("name", [modelName], utf8: true, array: false)
    }
}
