import AlexConvCore
import AlexConvKeras
import Foundation

/// The Keras model config of a tf.keras SavedModel, from `keras_metadata.pb` (a `SavedMetadata`
/// whose root object's JSON carries `model_config`), read with the Keras readers' config parser.
/// It orders the checkpoint's layers as the model has them, checks every weight's shape, and gives
/// the architecture spec (BatchNormalization epsilon, paddings, activations) when the layers have one.
struct SavedModelKerasConfig {
    static let fileName = "keras_metadata.pb"

    var hints: [LayerHint]?
    var spec: ArchitectureSpec?
    var notes: [String] = []
    var metadata: [String: String] = [:]

    /// Reads `directory/keras_metadata.pb` when there is one and matches its weighted layers to `tensors`.
    static func read(directory: String, tensors: [NamedTensor]) throws -> SavedModelKerasConfig {
        let path = directory + "/" + fileName
        var result = SavedModelKerasConfig()
        guard FileManager.default.fileExists(atPath: path) else {
            result.notes.append("no \(fileName) (not saved by tf.keras): the architecture is detected from the tensors unless named")
            return result
        }
        let storage = try ByteStorage.map(path: path)
        guard storage.bytes.count <= TensorFlowLimits.maxKerasMetadataBytes else {
            throw FormatError(.limit, file: path, "\(storage.bytes.count) bytes exceed the limit of \(TensorFlowLimits.maxKerasMetadataBytes)")
        }
        let saved: TFKeras_SavedMetadata
        do {
            saved = try TFKeras_SavedMetadata(serializedBytes: Array(storage.bytes))
        } catch {
            throw FormatError(.malformed, file: path, "not a SavedMetadata message (\(error))")
        }
        guard let root = saved.nodes.first(where: { $0.nodePath == "root" }) else {
            throw FormatError(.malformed, file: path, "no object with node_path 'root'")
        }
        guard let object = (try? JSONSerialization.jsonObject(with: Data(root.metadata.utf8))) as? [String: Any] else {
            throw FormatError(.malformed, file: path, location: "root", "the root object's metadata is not a JSON object")
        }
        for key in ["keras_version", "backend"] { if let value = object[key] as? String { result.metadata[key] = value } }
        let config: Any = object["model_config"] ?? ["class_name": object["class_name"] ?? "", "config": object["config"] ?? [:]]
        let text: String
        do {
            text = String(decoding: try JSONSerialization.data(withJSONObject: untupled(config)), as: UTF8.self)
        } catch {
            throw FormatError(.malformed, file: path, location: "root model_config", "cannot re-encode the config (\(error))")
        }
        let architecture: KerasConfigArchitecture
        do {
            architecture = try KerasConfigArchitecture.parse(json: text, file: path, location: "root model_config")
        } catch let error as FormatError {
            result.notes.append("\(fileName) has no layer list to read (\(error.detail)): the architecture is detected from the tensors unless named")
            return result
        }
        // Layer name -> object path, from the metadata of the root's children.
        var pathOfLayer: [String: String] = [:]
        for node in saved.nodes where node.nodePath.hasPrefix("root.") {
            guard let meta = (try? JSONSerialization.jsonObject(with: Data(node.metadata.utf8))) as? [String: Any],
                let name = meta["name"] as? String
            else { continue }
            let objectPath = node.nodePath.dropFirst(5).replacingOccurrences(of: ".", with: "/")
            if pathOfLayer[name] == nil { pathOfLayer[name] = objectPath }
        }
        var byOwner: [String: [NamedTensor]] = [:]
        for tensor in tensors {
            let owner = tensor.name.split(separator: "/").dropLast().joined(separator: "/")
            byOwner[owner, default: []].append(tensor)
        }
        var hints: [LayerHint] = []
        var used = Set<String>()
        for (index, layer) in architecture.weighted.enumerated() {
            let owner = pathOfLayer[layer.name] ?? "layer_with_weights-\(index)"
            guard let members = byOwner[owner] else {
                throw FormatError(
                    .malformed, file: path, location: layer.name,
                    "the model config's layer '\(layer.name)' (\(layer.className)) has no variables under \(owner)/ in variables/variables")
            }
            var ordered: [NamedTensor] = []
            for role in layer.roles {
                guard let tensor = members.first(where: { $0.name == owner + "/" + role }) else {
                    throw FormatError(
                        .malformed, file: path, location: layer.name,
                        "layer '\(layer.name)' (\(layer.className)) needs \(layer.roles.joined(separator: ", ")); variables/ has \(members.map(\.name).joined(separator: ", "))")
                }
                ordered.append(tensor)
            }
            try architecture.check(
                layer: index, names: ordered.map(\.name), tensors: ordered.map(\.tensor),
                file: directory + "/variables/variables.index", location: owner)
            used.insert(owner)
            hints.append(LayerHint(name: layer.name, kind: layer.kind, tensorNames: ordered.map(\.name)))
        }
        if let extra = byOwner.keys.sorted().first(where: { !used.contains($0) }) {
            throw FormatError(
                .malformed, file: directory + "/variables/variables.index", location: extra,
                "variables of an object the model config in \(fileName) does not list as a layer")
        }
        result.hints = hints
        result.spec = architecture.spec
        if let reason = architecture.unsupported {
            result.notes.append("the model config in \(fileName) has no architecture spec equivalent: \(reason); name the architecture")
        }
        if architecture.spec != nil {
            result.notes.append(
                "architecture from the model config in \(fileName) (model '\(architecture.modelName)'); Keras files do not record preprocessing: assumed RGB input scaled to 0-1 unless a preset says otherwise"
            )
        }
        return result
    }

    /// tf.keras' JSON encoding of tuples, `{"class_name": "__tuple__", "items": [...]}`, as plain lists.
    static func untupled(_ value: Any) -> Any {
        if let object = value as? [String: Any] {
            if object["class_name"] as? String == "__tuple__", let items = object["items"] as? [Any] { return items.map(untupled) }
            return object.mapValues(untupled)
        }
        if let list = value as? [Any] { return list.map(untupled) }
        return value
    }
}
