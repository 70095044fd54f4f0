import AlexConvCore
import AlexConvHDF5
import AlexConvZip
import Foundation

// MARK: - Readers

/// Reads Keras HDF5 files: Keras 2 / tf.keras / Keras 3 legacy `.h5` (full models and
/// `save_weights` files) and Keras 3 `.weights.h5`. Tensors keep Keras' channels-last layout:
/// conv kernels (kh, kw, in/groups, out), dense kernels (in, out), fc6 rows in (H, W, C) order.
/// Contiguous, unfiltered datasets are zero-copy views of a memory map of the file.
public enum KerasH5Reader: WeightFileReader {
    public static let formatName = "h5"

    public static func matches(path: String, prefix: UnsafeRawBufferPointer) -> Bool {
        looksLikeHDF5(prefix)
    }

    /// Reads `path` into a bundle in Keras layout (`.channelsLast`), with the spec when the file has a model config.
    public static func read(path: String) throws -> TensorBundle {
        try withFileContext(path) {
            let storage = try ByteStorage.map(path: path)
            guard looksLikeHDF5(storage.bytes) else {
                throw FormatError(.malformed, file: path, "not an HDF5 file: the HDF5 signature \\x89HDF\\r\\n\\x1a\\n is missing")
            }
            let file = try HDF5File.open(path: path, storage: storage)
            return try KerasFileReading(file: file, storage: storage, path: path).read(config: nil, kerasVersion: nil)
        }
    }
}

/// Reads Keras 3 `.keras` archives (zip of `config.json`, `metadata.json`, `model.weights.h5`).
/// Same layout as `KerasH5Reader`; the spec comes from `config.json`.
public enum KerasArchiveReader: WeightFileReader {
    public static let formatName = "keras"

    public static func matches(path: String, prefix: UnsafeRawBufferPointer) -> Bool {
        path.lowercased().hasSuffix(".keras") && ZipArchive.looksLike(prefix)
    }

    /// Reads `path` into a bundle in Keras layout (`.channelsLast`) with the spec of its `config.json`.
    public static func read(path: String) throws -> TensorBundle {
        try withFileContext(path) {
            let archive = try ZipArchive(path: path)
            guard let weightsEntry = archive["model.weights.h5"] else {
                let names = archive.entries.map(\.name).joined(separator: ", ")
                throw FormatError(.malformed, file: path, "a .keras archive needs model.weights.h5; it has: \(names)")
            }
            var config: String?
            if archive["config.json"] != nil {
                let bytes = try archive.bytes(named: "config.json")
                config = String(decoding: bytes.bytes, as: UTF8.self)
            }
            var version: String?
            if archive["metadata.json"] != nil,
                let object = try? JSONSerialization.jsonObject(with: Data(try archive.bytes(named: "metadata.json").bytes)) as? [String: Any]
            {
                version = object["keras_version"] as? String
            }
            let storage = try archive.bytes(of: weightsEntry)
            let name = path + "#model.weights.h5"
            let file = try HDF5File.open(image: storage, name: name)
            var bundle = try KerasFileReading(file: file, storage: storage, path: name).read(config: config, kerasVersion: version)
            bundle.path = path
            bundle.format = "keras (Keras 3 archive)"
            return bundle
        }
    }
}

// MARK: - Reading one HDF5 file

/// Reads one open Keras HDF5 file whose bytes are also in `storage` (for zero-copy views).
struct KerasFileReading {
    let file: HDF5File
    let storage: ByteStorage
    let path: String

    /// Reads the file. `config` is a `.keras` archive's config.json (nil for plain HDF5 files).
    func read(config: String?, kerasVersion: String?) throws -> TensorBundle {
        var metadata: [String: String] = [:]
        for key in ["keras_version", "backend"] {
            if let value = try? file.stringAttribute(key) { metadata[key] = value }
        }
        if let kerasVersion { metadata["keras_version"] = kerasVersion }
        let modelConfig = try file.stringAttribute("model_config")
        if try file.kind(of: "model_weights") == .group {
            return try readLegacy(root: try file.group("model_weights"), modelConfig: modelConfig, metadata: metadata, full: true)
        }
        if try file.hasAttribute("layer_names") || file.hasAttribute("layer_names0") {
            return try readLegacy(root: file, modelConfig: modelConfig, metadata: metadata, full: false)
        }
        if modelConfig != nil {
            throw FormatError(
                .malformed, file: path, location: "/model_weights",
                "the file has a Keras model_config but no model_weights group: it holds no weights (saved without weights?)")
        }
        if try file.kind(of: "layers") == .group || file.kind(of: "vars") == .group || file.kind(of: "_layer_checkpoint_dependencies") == .group {
            return try readKeras3(config: config, metadata: metadata)
        }
        let members = (try? file.childNames()) ?? []
        throw FormatError(
            .malformed, file: path,
            "not a Keras weights file: no model_weights group, no layer_names attribute and no layers/<name>/vars groups (top-level members: \(members.isEmpty ? "none" : members.joined(separator: ", ")))"
        )
    }

    // MARK: Tensors

    /// The dataset as a tensor: a view of the mapped file when stored contiguously, else read.
    func tensor(_ dataset: HDF5Dataset) throws -> Tensor {
        let layout = try dataset.layout()
        if let offset = layout.contiguousOffset {
            return try Tensor(
                storage: storage, byteOffset: offset, dtype: layout.dtype, shape: layout.shape,
                byteOrder: layout.byteOrder, name: dataset.path)
        }
        return try dataset.readAll(layout)
    }

    // MARK: Legacy layout (layer_names / weight_names)

    func readLegacy(root: HDF5Location, modelConfig: String?, metadata: [String: String], full: Bool) throws -> TensorBundle {
        var metadata = metadata
        for key in ["keras_version", "backend"] where metadata[key] == nil {
            if let value = try? root.stringAttribute(key) { metadata[key] = value }
        }
        guard let layerNames = try root.splitStringsAttribute("layer_names") else {
            throw FormatError(.malformed, file: path, location: root.path, "no layer_names attribute")
        }
        var notes: [String] = []
        var specProblem: String?
        var architecture: KerasArchitecture?
        if let modelConfig {
            let parsed = try KerasModelConfig.layers(json: modelConfig, file: path, location: "/@model_config")
            architecture = KerasModelConfig.architecture(modelName: parsed.modelName, layers: parsed.layers)
        }
        var tensors: [NamedTensor] = []
        var used = Set<String>()
        var found: [(layer: String, names: [String], tensors: [Tensor])] = []
        for layerName in layerNames {
            guard try root.kind(of: layerName) == .group else {
                throw FormatError(
                    .malformed, file: path, location: root.childPath(layerName),
                    "layer_names lists '\(layerName)' but the file has no group of that name")
            }
            let group = try root.group(layerName)
            guard let weightNames = try group.splitStringsAttribute("weight_names") else {
                throw FormatError(.malformed, file: path, location: group.path, "layer group has no weight_names attribute")
            }
            var names: [String] = []
            var layerTensors: [Tensor] = []
            for weightName in weightNames {
                guard try group.kind(of: weightName) == .dataset else {
                    throw FormatError(
                        .malformed, file: path, location: group.childPath(weightName),
                        "weight_names lists '\(weightName)' but there is no dataset of that name")
                }
                let t = try tensor(try group.dataset(weightName))
                var name = weightName
                if used.contains(name) { name = "\(layerName)/\(weightName)" }
                used.insert(name)
                tensors.append(NamedTensor(name, t))
                names.append(name)
                layerTensors.append(t)
            }
            if !names.isEmpty { found.append((layerName, names, layerTensors)) }
        }
        var hints: [LayerHint] = []
        if let architecture {
            let expected = architecture.weighted
            guard expected.count == found.count else {
                throw FormatError(
                    .malformed, file: path, location: root.path,
                    "the model config has \(expected.count) layers with weights (\(expected.map(\.name).joined(separator: ", "))), the file has weights for \(found.count) (\(found.map(\.layer).joined(separator: ", ")))"
                )
            }
            for (layer, want) in zip(found, expected) {
                try check(layer: layer.layer, names: layer.names, tensors: layer.tensors, against: want, location: root.childPath(layer.layer))
                hints.append(LayerHint(name: layer.layer, kind: want.kind, tensorNames: layer.names))
            }
            if let reason = architecture.unsupported {
                notes.append("the model config has no architecture spec equivalent: \(reason); name the architecture")
                specProblem = reason
            }
        } else {
            for layer in found {
                hints.append(LayerHint(name: layer.layer, kind: inferKind(layer.tensors), tensorNames: layer.names))
            }
            notes.append("weights-only file: the architecture is the one named by the user, else detected")
        }
        if architecture?.spec != nil {
            notes.append("Keras files do not record preprocessing: assumed RGB input scaled to 0-1 unless a preset says otherwise")
        }
        let version = metadata["keras_version"] ?? "unknown"
        let style = version.hasPrefix("3") ? "Keras 3 legacy" : version.hasPrefix("1") ? "Keras 1" : "Keras 2 / tf.keras"
        let format = "h5 (\(style) \(full ? "full model" : "weights-only") HDF5)"
        var bundle = TensorBundle(
            path: path, format: format, tensors: tensors, layout: .channelsLast, spec: architecture?.spec,
            metadata: metadata, notes: notes, layerHints: hints)
        bundle.specProblem = specProblem
        return bundle
    }

    /// Checks a layer's weights against what its config says: count, then shapes.
    func check(layer: String, names: [String], tensors: [Tensor], against want: KerasLayerWeights, location: String) throws {
        try want.check(names: names, tensors: tensors, file: path, location: location)
    }

    /// The kind of layer a weights-only file's tensors suggest (nil: leave it to the recognizer).
    func inferKind(_ tensors: [Tensor]) -> LayerHint.Kind? {
        let ranks = tensors.map(\.rank)
        if ranks == [4, 1] || ranks == [4] { return .conv }
        if ranks == [2, 1] || ranks == [2] { return .dense }
        if ranks == [1, 1, 1, 1], Set(tensors.map(\.shape)).count == 1 { return .batchNorm }
        return nil
    }

    // MARK: Keras 3 layout (<path>/vars/N)

    func readKeras3(config: String?, metadata: [String: String]) throws -> TensorBundle {
        // Every group with a `vars` child holding datasets 0..n-1 is one saveable (layer).
        var saveables: [(path: String, name: String?, tensors: [(String, Tensor)])] = []
        func visit(_ location: HDF5Location, _ prefix: String, depth: Int) throws {
            guard depth <= KerasLimits.maxGroupDepth else {
                throw FormatError(.limit, file: path, location: location.path, "groups nested deeper than \(KerasLimits.maxGroupDepth)")
            }
            for child in try location.childNames() {
                if depth == 0 && child == "optimizer" { continue }
                guard try location.kind(of: child) == .group else { continue }
                let group = try location.group(child)
                let childPath = prefix.isEmpty ? child : prefix + "/" + child
                if child == "vars" {
                    let members = try group.childNames()
                    var items: [(String, Tensor)] = []
                    for index in 0..<members.count {
                        guard try group.kind(of: String(index)) == .dataset else {
                            throw FormatError(
                                .malformed, file: path, location: group.path,
                                "variables must be datasets named 0..\(members.count - 1); found \(members.sorted().joined(separator: ", "))")
                        }
                        items.append(("\(childPath)/\(index)", try tensor(try group.dataset(String(index)))))
                    }
                    if !items.isEmpty { saveables.append((prefix, try group.stringAttribute("name"), items)) }
                } else {
                    try visit(group, childPath, depth: depth + 1)
                }
            }
        }
        try visit(file, "", depth: 0)

        var notes: [String] = []
        var specProblem: String?
        var architecture: KerasArchitecture?
        if let config {
            let parsed = try KerasModelConfig.layers(json: config, file: path, location: "config.json")
            architecture = KerasModelConfig.architecture(modelName: parsed.modelName, layers: parsed.layers)
        }
        // Order: by the config when there is one (matched by the `name` attribute, else by Keras'
        // class-name paths), else natural order of the paths (conv2d, conv2d_1, ..., conv2d_10).
        var ordered = saveables.sorted { naturalLess($0.path, $1.path) }
        var kinds: [String: LayerHint.Kind] = [:]
        if let architecture {
            var expectedPath: [String: String] = [:]
            var counters: [String: Int] = [:]
            for layer in architecture.layers {
                let base = KerasModelConfig.snakeCase(layer.className)
                let n = counters[base, default: -1] + 1
                counters[base] = n
                expectedPath[layer.name] = "layers/" + (n == 0 ? base : "\(base)_\(n)")
            }
            var remaining = ordered
            var result: [(path: String, name: String?, tensors: [(String, Tensor)])] = []
            for want in architecture.weighted {
                let index =
                    remaining.firstIndex { $0.name == want.name }
                    ?? remaining.firstIndex { $0.name == nil && $0.path == expectedPath[want.name] }
                guard let index else {
                    throw FormatError(
                        .malformed, file: path,
                        "config.json layer '\(want.name)' (\(want.className)) has no variables in model.weights.h5 (looked for name attribute '\(want.name)' or group \(expectedPath[want.name] ?? "?"))"
                    )
                }
                let saveable = remaining.remove(at: index)
                try check(layer: want.name, names: saveable.tensors.map(\.0), tensors: saveable.tensors.map(\.1), against: want, location: "/" + saveable.path)
                kinds[saveable.path] = want.kind
                result.append(saveable)
            }
            if let extra = remaining.first {
                throw FormatError(.malformed, file: path, location: "/" + extra.path, "variables of a layer config.json does not list")
            }
            ordered = result
            if let reason = architecture.unsupported {
                notes.append("config.json has no architecture spec equivalent: \(reason); name the architecture")
                specProblem = reason
            }
        } else {
            notes.append("Keras 3 weights file: the architecture is the one named by the user, else detected (layer order taken from the group names)")
        }
        let tensors = ordered.flatMap { $0.tensors.map { NamedTensor($0.0, $0.1) } }
        let hints = ordered.map { saveable in
            LayerHint(
                name: saveable.name ?? saveable.path, kind: kinds[saveable.path] ?? inferKind(saveable.tensors.map(\.1)),
                tensorNames: saveable.tensors.map(\.0))
        }
        if architecture?.spec != nil {
            notes.append("Keras files do not record preprocessing: assumed RGB input scaled to 0-1 unless a preset says otherwise")
        }
        var bundle = TensorBundle(
            path: path, format: "weights.h5 (Keras 3 weights file)", tensors: tensors, layout: .channelsLast,
            spec: architecture?.spec, metadata: metadata, notes: notes, layerHints: hints)
        bundle.specProblem = specProblem
        return bundle
    }
}

/// Limits of the Keras readers.
public enum KerasLimits {
    /// Nesting of groups searched for `vars` in a Keras 3 weights file.
    public static let maxGroupDepth = 32
}

extension KerasLayerWeights {
    /// Checks a layer's weights against what its config says: count, then ranks and shapes; errors
    /// name `file`, `location` and the tensor.
    func check(names: [String], tensors: [Tensor], file: String, location: String) throws {
        guard tensors.count == roles.count else {
            throw FormatError(
                .malformed, file: file, location: location,
                "layer '\(name)' (\(className)) has \(tensors.count) weights (\(names.joined(separator: ", "))), its config needs \(roles.count): \(roles.joined(separator: ", "))")
        }
        for (index, t) in tensors.enumerated() {
            let role = roles[index]
            let expectedRank = kind == .batchNorm || role == "bias" ? 1 : kind == .conv ? 4 : 2
            guard t.rank == expectedRank else {
                throw FormatError(
                    .malformed, file: file, location: location,
                    "\(names[index]): \(className) \(role) needs rank \(expectedRank)\(kind == .conv && role == "kernel" ? " (kh, kw, in/groups, out)" : ""), found shape \(t.shape)")
            }
            if let shapes, t.shape != shapes[index] {
                throw FormatError(
                    .malformed, file: file, location: location,
                    "\(names[index]): \(className) '\(name)' \(role) should have shape \(shapes[index]) per the model config, found \(t.shape)")
            }
        }
    }
}
