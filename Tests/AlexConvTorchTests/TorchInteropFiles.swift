import AlexConvCore
import Foundation
import TestSupport
import Testing

@testable import AlexConvTorch

// MARK: - Files for Interop/torch/check_torch.py

/// Writes canonical files and the pth exports of them into `$ALEXCONV_INTEROP_OUT`, plus a
/// `manifest.txt` of `canonical pth naming source` lines, for Interop/torch/run.sh. Does
/// nothing (and passes) when the variable is not set.
@Test func writesInteropFiles() throws {
    guard let out = ProcessInfo.processInfo.environment["ALEXCONV_INTEROP_OUT"], !out.isEmpty else { return }
    try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true)
    let caffeNames = Dictionary(uniqueKeysWithValues: ["conv1", "conv2", "conv3", "conv4", "conv5", "fc6", "fc7", "fc8"].map { ($0, $0) })
    let bnSpec = Presets.kerasBN.spec(convWidths: tinyConv, fcWidths: tinyFC, classes: 10)
    let bnModel = Model(
        spec: bnSpec,
        tensors: try bnSpec.expectedTensors().enumerated().map { i, item in
            let count = item.shape.reduce(1, *)
            let positive = item.name.hasSuffix("running_var")
            return NamedTensor(
                item.name,
                Tensor(
                    (0..<count).map { k in
                        let v = Float((k * 37 + i * 11) % 101) / 101 - 0.5
                        return positive ? 0.5 + abs(v) : v * 0.1
                    }, shape: item.shape))
        }, source: "synthetic keras-bn")
    let cases: [(name: String, model: Model, naming: String?, source: String?)] = [
        ("torchvision", try model(Presets.torchvision, expected: "torchvision", names: torchvisionNames), nil, torchFixture("torchvision.pth")),
        ("torchvision_canonical", try model(Presets.torchvision, expected: "torchvision", names: torchvisionNames), "canonical", nil),
        ("alexnet_v1", try model(Presets.alexnetV1, expected: "alexnet_v1", names: lrnNames), nil, torchFixture("alexnet_v1.pth")),
        ("half", try model(Presets.half, expected: "half", names: torchvisionNames), nil, torchFixture("half.pth")),
        ("alexnet8", try model(Presets.alexnet8, expected: "alexnet8", names: alexnet8Names), nil, torchFixture("alexnet8_net.pth")),
        ("caffe_grouped", try model(Presets.caffeAlexNet, expected: "caffe_grouped", names: caffeNames), nil, nil),
        ("caffe_one_tower", try model(Presets.caffeAlexNet, expected: "caffe_grouped", names: caffeNames).expandingTowers(), nil, nil),
        ("keras_bn", bnModel, nil, nil),
    ]
    var manifest = ""
    for item in cases {
        let canonical = "\(out)/\(item.name)\(CanonicalFile.suffix)"
        let pth = "\(out)/\(item.name).pth"
        try CanonicalFile.write(item.model, to: canonical)
        try TorchExporter.export(item.model, format: "pth", to: pth, options: ExportOptions(naming: item.naming))
        let naming = try TorchNaming.resolve(item.naming, for: item.model.spec).rawValue
        manifest += "\(canonical) \(pth) \(naming) \(item.source ?? "-")\n"
    }
    try manifest.write(toFile: "\(out)/manifest.txt", atomically: true, encoding: .utf8)
}
