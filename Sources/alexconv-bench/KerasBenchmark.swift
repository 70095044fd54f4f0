import AlexConvCore
import AlexConvKeras
import Foundation

// MARK: - Keras .h5 read + write benchmark (issue 6)

/// Reads a full-size keras-bn AlexNet .h5 (~250 MB, written by Keras 3 in `Benchmarks/keras_peer.py`)
/// into the canonical model and writes it back as a Keras .h5; next to Keras (load_model + save)
/// and plain h5py (read every dataset, write a copy) timed by the peer in the same run.
/// Target (issue 6): at most 0.5x their wall time.
public enum KerasBenchmark {
    /// Runs the benchmark in `directory`; returns the lines to print.
    public static func run(directory: String, python: String?, peerScript: String = "Benchmarks/keras_peer.py", repetitions: Int = 3) throws -> String {
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let source = directory + "/keras_bn_alexnet.h5"
        guard let python else { return "  skipped: no python with keras (set ALEXCONV_PYTHON)" }
        if !FileManager.default.fileExists(atPath: source) {
            let made = try ChildProcess.run([python, peerScript, "make", source])
            guard made.status == 0 else { return "  peer could not write the model: \(made.output.suffix(300))" }
        }
        let size = (try FileManager.default.attributesOfItem(atPath: source)[.size] as? Int) ?? 0
        var best = Double.infinity
        var bestRead = Double.infinity
        for _ in 0..<repetitions {
            let start = Date()
            let bundle = try KerasH5Reader.read(path: source)
            let model = try Recognizer.recognize(bundle).model
            let read = Date().timeIntervalSince(start)
            try KerasExporter.export(model, format: "h5", to: directory + "/alexconv_out.h5", options: ExportOptions())
            best = min(best, Date().timeIntervalSince(start))
            bestRead = min(bestRead, read)
        }
        var lines = [
            String(format: "keras-bn AlexNet .h5 (%.1f MB) -> canonical -> .h5", Double(size) / 1e6),
            String(format: "  alexconv: %.3f s (read + recognise %.3f s), best of %d", best, bestRead, repetitions),
        ]
        let peer = try ChildProcess.run([python, peerScript, "convert", source, directory + "/keras_out.h5"])
        if let line = peer.output.split(separator: "\n").last(where: { $0.hasPrefix("{") }),
            let object = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Double],
            let keras = object["keras_seconds"], let h5py = object["h5py_seconds"]
        {
            lines.append(
                String(
                    format: "  Keras 3 load_model + save: %.3f s; h5py read + write: %.3f s (imports %.1f s not counted)",
                    keras, h5py, object["import_seconds"] ?? 0))
            lines.append(String(format: "  alexconv / keras %.2fx, alexconv / h5py %.2fx (target <= 0.5x)", best / keras, best / h5py))
        } else {
            lines.append("  peer failed: \(peer.output.suffix(300))")
        }
        return lines.joined(separator: "\n")
    }
}
