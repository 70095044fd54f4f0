import AlexConvCore
import Foundation
import TestSupport
import Testing

@testable import AlexConvKeras

/// Writes the files Interop/keras/check_keras.py loads with Keras: for each case the canonical model
/// (`<case>.alexnet.safetensors`, the reference PyTorch runs) and alexconv's `<case>.h5`,
/// `<case>.weights.h5` and `<case>.keras`. Runs only when ALEXCONV_KERAS_INTEROP_DIR names a folder.
@Test func writeKerasInteropFiles() throws {
    guard let dir = ProcessInfo.processInfo.environment["ALEXCONV_KERAS_INTEROP_DIR"] else { return }
    try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    let tiny = ([8, 16, 24, 24, 16], [32, 32], 10)
    var cases: [(String, Model)] = [
        ("bn", try kerasModel("keras3_bn.h5")),
        ("functional", try kerasModel("tfkeras_functional.h5")),
        ("grouped", try kerasModel("keras3_grouped.h5")),
        ("bn_archive", try kerasModel("keras3_bn.keras")),
    ]
    for preset in [Presets.torchvision, Presets.caffeAlexNet, Presets.caffeNet, Presets.alexnetV1] {
        let spec = preset.spec(convWidths: tiny.0, fcWidths: tiny.1, classes: tiny.2)
        cases.append((preset.name.replacingOccurrences(of: "-", with: "_"), try syntheticModel(spec)))
    }
    for (name, model) in cases {
        try CanonicalFile.write(model, to: "\(dir)/\(name).alexnet.safetensors")
        for format in KerasExporter.formats {
            try KerasExporter.export(model, format: format, to: "\(dir)/\(name)\(KerasExporter.fileExtension(for: format))", options: ExportOptions())
        }
    }
}
