import AlexConvCore
import Foundation
import TestSupport
import Testing

@testable import AlexConvHDF5
@testable import AlexConvKeras

/// The model_config of a real tf.keras file with values a corrupt or hostile file may carry: every
/// number goes through the spec's checked validation, so each gives a reason naming the layer
/// instead of a trap (division by zero, overflow).
@Suite("Keras model_config: hostile numbers give reasons, never traps")
struct KerasConfigHostileTests {
    /// The model_config JSON of Fixtures/keras/tfkeras_bn.h5 (written by tf.keras 2).
    static let realConfigText: String = {
        let file = try! HDF5File.open(path: FixturePaths.path("keras/tfkeras_bn.h5"))
        return try! file.stringAttribute("model_config")!
    }()
    static var realConfig: [String: Any] { try! JSONSerialization.jsonObject(with: Data(realConfigText.utf8)) as! [String: Any] }

    /// The real config with `edit` applied to the layer named `layer`'s config.
    static func architecture(editing layer: String, _ edit: (inout [String: Any]) -> Void) throws -> KerasArchitecture {
        var top = realConfig
        var config = top["config"] as! [String: Any]
        var layers = config["layers"] as! [[String: Any]]
        let index = layers.firstIndex { ($0["config"] as? [String: Any])?["name"] as? String == layer }!
        var layerConfig = layers[index]["config"] as! [String: Any]
        edit(&layerConfig)
        layers[index]["config"] = layerConfig
        config["layers"] = layers
        top["config"] = config
        let json = String(decoding: try JSONSerialization.data(withJSONObject: top), as: UTF8.self)
        let parsed = try KerasModelConfig.layers(json: json, file: "tfkeras_bn.h5", location: "/@model_config")
        return KerasModelConfig.architecture(modelName: parsed.modelName, layers: parsed.layers)
    }

    @Test("the unedited config yields its spec (the edits below are what break it)")
    func unedited() throws {
        let architecture = try Self.architecture(editing: "flatten") { _ in }
        #expect(architecture.spec != nil && architecture.unsupported == nil, "\(architecture.unsupported ?? "")")
    }

    @Test(
        "hostile values",
        arguments: [
            ("max_pooling2d", "strides", "[0, 0]", "max_pooling2d"),
            ("max_pooling2d_1", "pool_size", "[0, 3]", "max_pooling2d_1"),
            ("max_pooling2d_2", "strides", "[9223372036854775807, 2]", "max_pooling2d_2"),
            ("conv2d", "strides", "[0, 4]", "conv2d"),
            ("conv2d_1", "kernel_size", "[9223372036854775807, 5]", "conv2d_1"),
            ("conv2d_2", "filters", "9223372036854775807", "conv2d_2"),
            ("input_1", "batch_input_shape", "[null, 1099511627776, 1099511627776, 3]", "input_1"),
            ("dense", "units", "0", "dense"),
        ])
    func hostile(layer: String, key: String, json: String, named: String) throws {
        let value = try JSONSerialization.jsonObject(with: Data(json.utf8), options: .fragmentsAllowed)
        let architecture = try Self.architecture(editing: layer) { $0[key] = value }
        #expect(architecture.spec == nil)
        let reason = architecture.unsupported ?? ""
        #expect(reason.contains("'\(named)'"), "\(layer).\(key) = \(json): \(reason)")
    }

    @Test("a ZeroPadding2D with huge sums is refused by name")
    func hugePadding() throws {
        var top = Self.realConfig
        var config = top["config"] as! [String: Any]
        var layers = config["layers"] as! [[String: Any]]
        for n in 0..<2 {
            layers.insert(["class_name": "ZeroPadding2D", "config": ["name": "pad\(n)", "padding": [[Int.max, Int.max], [Int.max, Int.max]]] as [String: Any]], at: 1)
        }
        config["layers"] = layers
        top["config"] = config
        let json = String(decoding: try JSONSerialization.data(withJSONObject: top), as: UTF8.self)
        let parsed = try KerasModelConfig.layers(json: json, file: "x.h5", location: "/@model_config")
        let architecture = KerasModelConfig.architecture(modelName: parsed.modelName, layers: parsed.layers)
        #expect(architecture.spec == nil && (architecture.unsupported ?? "").contains("ZeroPadding2D 'pad"), "\(architecture.unsupported ?? "")")
    }

    @Test("a Lambda layer is named: alexconv never runs layer code")
    func lambda() throws {
        var top = Self.realConfig
        var config = top["config"] as! [String: Any]
        var layers = config["layers"] as! [[String: Any]]
        layers.insert(["class_name": "Lambda", "config": ["name": "scale_input", "function": "4wEAAAAAAAAA"] as [String: Any]], at: 1)
        config["layers"] = layers
        top["config"] = config
        let json = String(decoding: try JSONSerialization.data(withJSONObject: top), as: UTF8.self)
        let parsed = try KerasModelConfig.layers(json: json, file: "x.h5", location: "/@model_config")
        let architecture = KerasModelConfig.architecture(modelName: parsed.modelName, layers: parsed.layers)
        #expect((architecture.unsupported ?? "").contains("'scale_input' is a Lambda layer"), "\(architecture.unsupported ?? "")")
    }
}
