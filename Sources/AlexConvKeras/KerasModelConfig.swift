import AlexConvCore
import Foundation

// Reading a Keras `model_config` (legacy .h5) or `config.json` (.keras): the layer list, what
// weights each layer holds, and the architecture spec when every layer has a spec equivalent.

// MARK: - Layers of a config

/// One layer of a Keras model config, as far as alexconv reads it.
struct KerasLayerConfig {
    var className: String
    var name: String
    var config: [String: Any]
}

/// What a layer's weights are, in Keras order, and the shapes Keras would give them when known.
struct KerasLayerWeights {
    /// The Keras layer name.
    var name: String
    var className: String
    var kind: LayerHint.Kind
    /// Roles in file order: kernel, bias / gamma, beta, moving_mean, moving_variance.
    var roles: [String]
    /// Expected shape per role when the input size is known (Keras layout), else nil.
    var shapes: [[Int]]?
}

/// The outcome of reading a config: the weighted layers, the spec (nil when a layer has no spec
/// equivalent, with the reason) and the model name.
struct KerasArchitecture {
    var modelName: String
    var weighted: [KerasLayerWeights]
    var spec: ArchitectureSpec?
    var unsupported: String?
    /// Layer names in model order (InputLayer excluded), with class names.
    var layers: [(name: String, className: String)]
}

enum KerasModelConfig {
    /// Model classes whose config holds a plain list of layers.
    static let containerClasses: Set<String> = ["Sequential", "Functional", "Model"]

    /// Parses `text` (a model config JSON) into its layer list; errors name `file` and `location`.
    static func layers(json text: String, file: String, location: String) throws -> (modelName: String, className: String, layers: [KerasLayerConfig]) {
        guard let data = text.data(using: .utf8),
            let object = try? JSONSerialization.jsonObject(with: data),
            let top = object as? [String: Any]
        else {
            throw FormatError(.malformed, file: file, location: location, "model config is not a JSON object")
        }
        let className = top["class_name"] as? String ?? ""
        guard containerClasses.contains(className) else {
            throw FormatError(
                .malformed, file: file, location: location,
                "model class '\(className)' has no layer list alexconv can read (expected Sequential or Functional)")
        }
        let rawLayers: [Any]
        var modelName = "model"
        if let list = top["config"] as? [Any] {
            rawLayers = list  // Keras 2.0-2.1 Sequential: config is the layer list itself
        } else if let config = top["config"] as? [String: Any], let list = config["layers"] as? [Any] {
            rawLayers = list
            modelName = config["name"] as? String ?? modelName
        } else {
            throw FormatError(.malformed, file: file, location: location, "model config has no 'layers' list")
        }
        var layers: [KerasLayerConfig] = []
        for (index, raw) in rawLayers.enumerated() {
            guard let entry = raw as? [String: Any], let layerClass = entry["class_name"] as? String else {
                throw FormatError(.malformed, file: file, location: location, "layer \(index) of the model config has no class_name")
            }
            let config = entry["config"] as? [String: Any] ?? [:]
            let name = config["name"] as? String ?? entry["name"] as? String ?? "layer_\(index)"
            var merged = config
            if let inbound = entry["inbound_nodes"] { merged["__inbound_nodes"] = inbound }
            if let build = entry["build_config"] as? [String: Any] { merged["__build_config"] = build }
            layers.append(KerasLayerConfig(className: layerClass, name: name, config: merged))
        }
        return (modelName, className, layers)
    }

    // MARK: - Architecture

    /// Reads the architecture of `layers`: the weighted layers always, the spec when possible.
    static func architecture(modelName: String, layers: [KerasLayerConfig]) -> KerasArchitecture {
        var builder = SpecBuilder(layers: layers)
        builder.run()
        let named = layers.filter { $0.className != "InputLayer" }.map { ($0.name, $0.className) }
        return KerasArchitecture(
            modelName: modelName, weighted: builder.weighted, spec: builder.spec,
            unsupported: builder.unsupported, layers: named)
    }

    /// Keras' `to_snake_case` of a class name (`Conv2D` -> `conv2d`, `BatchNormalization` ->
    /// `batch_normalization`): the same three regular expressions.
    static func snakeCase(_ name: String) -> String {
        func replace(_ pattern: String, _ template: String, _ text: String) -> String {
            guard let regex = try? NSRegularExpression(pattern: pattern) else { return text }
            return regex.stringByReplacingMatches(in: text, range: NSRange(text.startIndex..., in: text), withTemplate: template)
        }
        var text = replace("\\W+", "", name)
        text = replace("(.)([A-Z][a-z]+)", "$1_$2", text)
        return replace("([a-z])([A-Z])", "$1_$2", text).lowercased()
    }
}

// MARK: - Config values

extension Dictionary where Key == String, Value == Any {
    func int(_ key: String) -> Int? {
        if let n = self[key] as? Int { return n }
        if let n = self[key] as? Double, n == n.rounded() { return Int(n) }
        return nil
    }
    func double(_ key: String) -> Double? {
        if let n = self[key] as? Double { return n }
        if let n = self[key] as? Int { return Double(n) }
        return nil
    }
    func bool(_ key: String) -> Bool? { self[key] as? Bool }
    /// An int pair from `[a, b]` or a single int.
    func pair(_ key: String) -> [Int]? {
        if let n = int(key) { return [n, n] }
        if let list = self[key] as? [Any] {
            let ints = list.compactMap { ($0 as? Int) ?? (($0 as? Double).map { Int($0) }) }
            if ints.count == 2 { return ints }
            if ints.count == 1 { return [ints[0], ints[0]] }
        }
        return nil
    }
    /// An activation name: a string, or Keras 3's serialized function object.
    func activation(_ key: String = "activation") -> String {
        if let s = self[key] as? String { return s }
        if let object = self[key] as? [String: Any] {
            if let s = object["config"] as? String { return s }
            if let s = object["registered_name"] as? String { return s }
            if let s = object["class_name"] as? String { return s }
        }
        return "linear"
    }
}

/// The padding TensorFlow's `same` adds to one axis: (before, after), the extra pixel at the end.
func tensorflowSamePadding(size: Int, kernel: Int, stride: Int) -> (Int, Int) {
    let out = (size + stride - 1) / stride
    let total = max((out - 1) * stride + kernel - size, 0)
    return (total / 2, total - total / 2)
}

// MARK: - Spec builder

/// Walks a config's layers once, tracking the activation shape, building spec layers and
/// recording each weighted layer's expected tensors. Stops building the spec (not the weight
/// list) at the first layer with no spec equivalent.
private struct SpecBuilder {
    let layers: [KerasLayerConfig]
    var weighted: [KerasLayerWeights] = []
    var spec: ArchitectureSpec?
    var unsupported: String?

    private var specLayers: [LayerSpec] = []
    /// The activation after the layers so far, from the spec's own checked shape inference (every
    /// number from the config goes through it); nil until the input size is known.
    private var current: ActivationShape?
    private var input: (h: Int, w: Int, c: Int)?
    /// (height, width, channels) when the activation is a feature map.
    private var map: (h: Int, w: Int, c: Int)? {
        if case .map(let c, let h, let w)? = current { return (h, w, c) }
        return nil
    }
    /// The length when the activation is a vector.
    private var vector: Int? {
        if case .vector(let n)? = current { return n }
        return nil
    }
    private static let limit = ArchitectureSpec.maxDimension
    /// True when every value is a usable window size or stride (1...maxDimension).
    private static func windowSizes(_ values: [Int]) -> Bool { values.allSatisfy { (1...limit).contains($0) } }
    private var pendingPadding: [Int]?  // [top, left, bottom, right] from ZeroPadding2D
    private var convIndex = 0
    private var denseIndex = 0
    private var lastWeightedIndex = 0
    private var usedNormNames = Set<String>()
    private let convCount: Int

    init(layers: [KerasLayerConfig]) {
        self.layers = layers
        self.convCount = layers.filter { $0.className == "Conv2D" || $0.className == "Convolution2D" }.count
    }

    mutating func fail(_ reason: String) {
        if unsupported == nil { unsupported = reason }
    }

    var building: Bool { unsupported == nil }

    /// Appends `layer` to the spec and infers the new activation shape with the spec's checks.
    mutating func append(_ layer: LayerSpec, from config: KerasLayerConfig) {
        specLayers.append(layer)
        guard let input else {
            current = nil
            return
        }
        let partial = ArchitectureSpec(
            name: "custom",
            input: InputSpec(
                height: input.h, width: input.w, channels: input.c,
                channelOrder: .rgb, scale: 1, mean: Array(repeating: 0, count: input.c),
                std: Array(repeating: 1, count: input.c)),
            layers: specLayers)
        do {
            current = try partial.activationShapes().last
        } catch {
            fail("layer '\(config.name)' (\(config.className)): \(error)")
        }
    }

    mutating func run() {
        for (index, layer) in layers.enumerated() {
            if index == 0 || map == nil && vector == nil { readInputShape(layer) }
            checkChain(layer, index: index)
            step(layer)
        }
        guard building else { return }
        if pendingPadding != nil {
            fail("ZeroPadding2D at the end of the model")
            return
        }
        guard let input else {
            fail("the config gives no input size")
            return
        }
        var inputSpec = InputSpec(
            height: input.h, width: input.w, channels: input.c, channelOrder: .rgb,
            scale: 1.0 / 255.0, mean: Array(repeating: 0, count: input.c),
            std: Array(repeating: 1, count: input.c))
        var result = ArchitectureSpec(name: "custom", input: inputSpec, layers: specLayers)
        do {
            try result.validate()
        } catch {
            fail("the layers do not form a valid architecture: \(error)")
            return
        }
        // Name a preset when the structure is exactly one (widths and class count from the file).
        let convs = result.convs
        let denses = result.denses
        if convs.count == 5, denses.count == 3 {
            for preset in Presets.all {
                let candidate = preset.spec(
                    convWidths: convs.map(\.outChannels), fcWidths: [denses[0].outFeatures, denses[1].outFeatures],
                    classes: denses[2].outFeatures)
                if candidate.layers == result.layers, candidate.input.height == input.h, candidate.input.width == input.w {
                    result.name = preset.name
                    inputSpec = candidate.input
                    result.input = inputSpec
                    break
                }
            }
        }
        spec = result
    }

    mutating func readInputShape(_ layer: KerasLayerConfig) {
        let config = layer.config
        var shape: [Any]? = config["batch_input_shape"] as? [Any] ?? config["batch_shape"] as? [Any]
        if shape == nil, let build = config["__build_config"] as? [String: Any] { shape = build["input_shape"] as? [Any] }
        guard let shape, shape.count == 4 else { return }
        let dims = shape.dropFirst().map { ($0 as? Int) ?? -1 }
        guard dims.allSatisfy({ $0 > 0 }) else { return }
        guard Self.windowSizes(dims) else {
            fail("layer '\(layer.name)': input shape \(dims) outside 1...\(Self.limit)")
            return
        }
        input = (dims[0], dims[1], dims[2])
        current = .map(channels: dims[2], height: dims[0], width: dims[1])
    }

    /// A functional config must be a chain: each layer's single input is the previous layer.
    mutating func checkChain(_ layer: KerasLayerConfig, index: Int) {
        guard let inbound = layer.config["__inbound_nodes"] else { return }
        var names: [String] = []
        func collect(_ value: Any) {
            if let dict = value as? [String: Any] {
                if let history = dict["keras_history"] as? [Any], let name = history.first as? String {
                    names.append(name)
                    return
                }
                dict.values.forEach(collect)
            } else if let list = value as? [Any] {
                if list.count >= 3, let name = list[0] as? String, list[1] is Int {
                    names.append(name)
                    return
                }
                list.forEach(collect)
            }
        }
        collect(inbound)
        if index == 0 || layer.className == "InputLayer" { return }
        if names.count != 1 || names[0] != layers[index - 1].name {
            fail(
                "layer '\(layer.name)' takes its input from \(names.isEmpty ? "nothing" : names.joined(separator: ", ")), not only from '\(layers[index - 1].name)': only chains of layers have an architecture spec"
            )
        }
    }

    mutating func activation(_ name: String, layer: KerasLayerConfig) {
        switch name {
        case "linear", "": break
        case "relu": append(.relu, from: layer)
        case "softmax": append(.softmax, from: layer)
        default: fail("layer '\(layer.name)' uses activation '\(name)'; the architecture spec has relu and softmax only")
        }
    }

    mutating func record(_ layer: KerasLayerConfig, _ kind: LayerHint.Kind, _ roles: [String], _ shapes: [[Int]]?) {
        weighted.append(KerasLayerWeights(name: layer.name, className: layer.className, kind: kind, roles: roles, shapes: shapes))
    }

    mutating func step(_ layer: KerasLayerConfig) {
        let c = layer.config
        if let format = c["data_format"] as? String, format != "channels_last" {
            fail("layer '\(layer.name)' uses data_format '\(format)'; alexconv reads channels_last Keras models")
        }
        switch layer.className {
        case "InputLayer":
            break
        case "Conv2D", "Convolution2D":
            convIndex += 1
            lastWeightedIndex = convIndex
            let filters = c.int("filters") ?? 0
            let kernel = c.pair("kernel_size") ?? [0, 0]
            let stride = c.pair("strides") ?? [1, 1]
            let groups = c.int("groups") ?? 1
            let bias = c.bool("use_bias") ?? true
            let roles = bias ? ["kernel", "bias"] : ["kernel"]
            var shapes: [[Int]]?
            if let m = map, groups > 0 { shapes = [[kernel[0], kernel[1], m.c / groups, filters]] + (bias ? [[filters]] : []) }
            record(layer, .conv, roles, shapes)
            guard building else { return }
            if let dilation = c.pair("dilation_rate"), dilation != [1, 1] {
                fail("layer '\(layer.name)' has dilation \(dilation); the architecture spec has none")
                return
            }
            guard let m = map else {
                fail("layer '\(layer.name)': no input size before it")
                return
            }
            guard kernel.count == 2, stride.count == 2, Self.windowSizes(kernel + stride + [filters, groups]) else {
                fail("layer '\(layer.name)': filters \(filters), kernel_size \(kernel), strides \(stride), groups \(groups): each must be in 1...\(Self.limit)")
                return
            }
            var padding = [0, 0, 0, 0]
            let extra = pendingPadding ?? [0, 0, 0, 0]
            pendingPadding = nil
            let h = m.h + extra[0] + extra[2]
            let w = m.w + extra[1] + extra[3]
            switch c["padding"] as? String ?? "valid" {
            case "valid": break
            case "same":
                let (top, bottom) = tensorflowSamePadding(size: h, kernel: kernel[0], stride: stride[0])
                let (left, right) = tensorflowSamePadding(size: w, kernel: kernel[1], stride: stride[1])
                padding = [top, left, bottom, right]
            case let other:
                fail("layer '\(layer.name)' has padding '\(other)'")
                return
            }
            padding = zip(padding, extra).map { $0 + $1 }
            let spec = ConvSpec(
                name: "conv\(convIndex)", outChannels: filters, kernel: kernel, stride: stride,
                padding: padding, groups: groups, bias: bias)
            append(.conv(spec), from: layer)
            activation(c.activation(), layer: layer)
        case "Dense":
            denseIndex += 1
            lastWeightedIndex = convCount + denseIndex
            let units = c.int("units") ?? 0
            let bias = c.bool("use_bias") ?? true
            let inFeatures = vector ?? map.map { $0.h * $0.w * $0.c }  // each at most 2^20 (checked inference): no overflow
            let shapes: [[Int]]? = inFeatures.map { [[$0, units]] + (bias ? [[units]] : []) }
            record(layer, .dense, bias ? ["kernel", "bias"] : ["kernel"], shapes)
            guard building else { return }
            guard vector != nil else {
                fail("Dense layer '\(layer.name)' on a feature map (no Flatten before it)")
                return
            }
            append(.dense(DenseSpec(name: "fc\(convCount + denseIndex)", outFeatures: units, bias: bias)), from: layer)
            activation(c.activation(), layer: layer)
        case "BatchNormalization":
            let channels = vector ?? map?.c
            let center = c.bool("center") ?? true
            let scale = c.bool("scale") ?? true
            var roles: [String] = []
            if scale { roles.append("gamma") }
            if center { roles.append("beta") }
            roles += ["moving_mean", "moving_variance"]
            record(layer, .batchNorm, roles, channels.map { n in roles.map { _ in [n] } })
            guard building else { return }
            guard center, scale else {
                fail("BatchNormalization '\(layer.name)' without center or scale")
                return
            }
            var axes: [Int] = []
            if let axis = c.int("axis") { axes = [axis] } else if let list = c["axis"] as? [Any] { axes = list.compactMap { $0 as? Int } }
            let lastAxis = vector != nil ? [-1, 1] : [-1, 3]
            guard axes.count == 1, lastAxis.contains(axes[0]) else {
                fail("BatchNormalization '\(layer.name)' normalises axis \(axes), not the channel axis")
                return
            }
            let name = "bn\(lastWeightedIndex)"
            guard usedNormNames.insert(name).inserted else {
                fail("two BatchNormalization layers after one weighted layer")
                return
            }
            append(.batchNorm(BatchNormSpec(name: name, epsilon: c.double("epsilon") ?? 1e-3)), from: layer)
        case "MaxPooling2D", "MaxPool2D", "AveragePooling2D", "AvgPool2D":
            guard building else { return }
            guard pendingPadding == nil else {
                fail("ZeroPadding2D before a pooling layer")
                return
            }
            guard let m = map, let size = c.pair("pool_size") else {
                fail("pooling layer '\(layer.name)' without input size or pool_size")
                return
            }
            let stride = c.pair("strides") ?? size
            guard size.count == 2, stride.count == 2, Self.windowSizes(size + stride) else {
                fail("pooling layer '\(layer.name)': pool_size \(size) and strides \(stride) must be in 1...\(Self.limit)")
                return
            }
            var padding = [0, 0, 0, 0]
            if (c["padding"] as? String ?? "valid") == "same" {
                let (top, bottom) = tensorflowSamePadding(size: m.h, kernel: size[0], stride: stride[0])
                let (left, right) = tensorflowSamePadding(size: m.w, kernel: size[1], stride: stride[1])
                padding = [top, left, bottom, right]
            }
            let isMax = layer.className.hasPrefix("Max")
            // Keras averages over the real cells only; the flag means nothing to max pooling (kept at the default).
            let pool = PoolSpec(kernel: size, stride: stride, padding: padding, ceilMode: false, countIncludePad: isMax)
            append(isMax ? .maxPool(pool) : .avgPool(pool), from: layer)
        case "GlobalAveragePooling2D", "GlobalAvgPool2D":
            guard building else { return }
            guard map != nil else {
                fail("GlobalAveragePooling2D without input size")
                return
            }
            if c.bool("keepdims") == true {
                fail("GlobalAveragePooling2D with keepdims")
                return
            }
            append(.adaptiveAvgPool([1, 1]), from: layer)
            append(.flatten, from: layer)
        case "ZeroPadding2D":
            guard building else { return }
            var padding: [Int]?
            if let n = c.int("padding") { padding = [n, n, n, n] }
            if let list = c["padding"] as? [Any] {
                if let pairs = list as? [[Int]], pairs.count == 2, pairs.allSatisfy({ $0.count == 2 }) {
                    padding = [pairs[0][0], pairs[1][0], pairs[0][1], pairs[1][1]]
                } else if let ints = list as? [Int], ints.count == 2 {
                    padding = [ints[0], ints[1], ints[0], ints[1]]
                }
            }
            guard let padding else {
                fail("ZeroPadding2D '\(layer.name)' with unreadable padding")
                return
            }
            let previous = pendingPadding ?? [0, 0, 0, 0]
            guard padding.allSatisfy({ (0...Self.limit).contains($0) }), previous.allSatisfy({ $0 <= Self.limit }) else {
                fail("ZeroPadding2D '\(layer.name)': padding \(padding) must be in 0...\(Self.limit)")
                return
            }
            pendingPadding = zip(previous, padding).map { $0 + $1 }
        case "Flatten":
            guard building else { return }
            guard map != nil else {
                fail("Flatten without a feature map before it")
                return
            }
            append(.flatten, from: layer)
        case "Dropout":
            guard building else { return }
            append(.dropout(c.double("rate") ?? 0.5), from: layer)
        case "Activation":
            guard building else { return }
            activation(c.activation(), layer: layer)
        case "ReLU":
            guard building else { return }
            let plain = (c["max_value"] == nil || c["max_value"] is NSNull) && (c.double("negative_slope") ?? 0) == 0 && (c.double("threshold") ?? 0) == 0
            if plain { append(.relu, from: layer) } else { fail("ReLU '\(layer.name)' with max_value, negative_slope or threshold") }
        case "Softmax":
            guard building else { return }
            let axis = c.int("axis") ?? -1
            if axis == -1 { append(.softmax, from: layer) } else { fail("Softmax '\(layer.name)' over axis \(axis)") }
        case "LocalResponseNormalization":
            guard building else { return }
            guard let radius = c.int("depth_radius"), let bias = c.double("bias"), let alpha = c.double("alpha"), let beta = c.double("beta") else {
                fail("LocalResponseNormalization '\(layer.name)' without depth_radius, bias, alpha and beta")
                return
            }
            append(.lrn(LRNSpec(tensorflowDepthRadius: radius, bias: bias, alpha: alpha, beta: beta)), from: layer)
        case "Lambda", "TFOpLambda", "SlicingOpLambda":
            fail("layer '\(layer.name)' is a \(layer.className) layer: its computation is Python code, which alexconv never runs, so the architecture cannot be read from the file")
        default:
            fail("layer '\(layer.name)' (\(layer.className)) has no equivalent in the architecture spec")
        }
    }
}
