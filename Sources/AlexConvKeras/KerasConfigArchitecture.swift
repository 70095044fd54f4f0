import AlexConvCore

/// The architecture a Keras model config describes, for containers other than Keras' own files
/// (TensorFlow SavedModel's `keras_metadata.pb`): the layers with weights (Keras roles in file
/// order and the shapes Keras gives them, Keras layout), and the architecture spec when every
/// layer has a spec equivalent. The same parser the Keras readers use.
public struct KerasConfigArchitecture: Sendable {
    /// One layer with weights.
    public struct WeightedLayer: Sendable, Equatable {
        /// The Keras layer name.
        public var name: String
        public var className: String
        public var kind: LayerHint.Kind
        /// Keras weight roles in order: `kernel`, `bias` / `gamma`, `beta`, `moving_mean`, `moving_variance`.
        public var roles: [String]
        /// Expected shape per role (kernels (kh, kw, in/groups, out), dense (in, out)) when the input size is known.
        public var shapes: [[Int]]?
    }

    public var modelName: String
    /// Layers with weights, in model order.
    public var weighted: [WeightedLayer]
    /// The spec, when every layer has an equivalent (else nil and `unsupported` says why).
    public var spec: ArchitectureSpec?
    public var unsupported: String?

    /// Parses a model config (`{"class_name": "Sequential"|"Functional", "config": {...}}` JSON);
    /// errors name `file` and `location`.
    public static func parse(json: String, file: String, location: String) throws -> KerasConfigArchitecture {
        let parsed = try KerasModelConfig.layers(json: json, file: file, location: location)
        let architecture = KerasModelConfig.architecture(modelName: parsed.modelName, layers: parsed.layers)
        return KerasConfigArchitecture(
            modelName: architecture.modelName,
            weighted: architecture.weighted.map { WeightedLayer(name: $0.name, className: $0.className, kind: $0.kind, roles: $0.roles, shapes: $0.shapes) },
            spec: architecture.spec, unsupported: architecture.unsupported)
    }

    /// Checks the tensors of weighted layer `index` (in role order) against the config: count,
    /// rank, and shape when known. The error names `file`, `location` and the tensor.
    public func check(layer index: Int, names: [String], tensors: [Tensor], file: String, location: String) throws {
        let want = weighted[index]
        try KerasLayerWeights(name: want.name, className: want.className, kind: want.kind, roles: want.roles, shapes: want.shapes)
            .check(names: names, tensors: tensors, file: file, location: location)
    }
}
