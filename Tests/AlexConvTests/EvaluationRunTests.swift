import Foundation
import TestSupport
import Testing

@testable import AlexConv

/// Long-run behaviour of evaluate: resume files, the CI gate and its exit codes, reports, Ctrl-C.
@Suite("Evaluation: resume, CI gate, interruption")
struct EvaluationRunTests {
    static let torchModel = FixturePaths.path("evaluate/digits_torch.pth")
    static var digits: String { FixturePaths.path("evaluate/digits") }

    static func settings() -> EvaluationSettings {
        var settings = EvaluationSettings()
        settings.progress = false
        return settings
    }

    /// Runs the alexconv executable; (exit status or -signal, stdout, stderr).
    static func alexconv(
        _ arguments: [String], in directory: String? = nil,
        whileRunning: ((Process, FileHandle) -> Void)? = nil
    ) throws -> (Int32, String, String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: HostileOutputTests.executable)
        process.arguments = arguments
        if let directory { process.currentDirectoryURL = URL(fileURLWithPath: directory) }
        let output = Pipe()
        let errors = Pipe()
        process.standardOutput = output
        process.standardError = errors
        try process.run()
        whileRunning?(process, errors.fileHandleForReading)
        // Read both pipes to the end concurrently (a full pipe would block the child).
        final class Box: @unchecked Sendable { var data = Data() }
        let stdout = Box()
        let reader = Thread { stdout.data = output.fileHandleForReading.readDataToEndOfFile() }
        reader.start()
        let stderr = errors.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        while reader.isExecuting || !reader.isFinished { usleep(1000) }
        let status = process.terminationReason == .uncaughtSignal ? -process.terminationStatus : process.terminationStatus
        return (status, String(decoding: stdout.data, as: UTF8.self), String(decoding: stderr, as: UTF8.self))
    }

    @Test("an interrupted run keeps its predictions; the next run continues and ends with the uninterrupted result")
    func resumeContinues() throws {
        let dir = FixturePaths.temporaryDirectory("resume")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let model = try ModelLoader.load(path: Self.torchModel)
        let set = try ImageSetLoader.labelled(root: Self.digits, labels: nil, classes: 10)
        let whole = try Evaluation.evaluate(model, name: "digits", set: set, settings: Self.settings())

        var settings = Self.settings()
        settings.resume = dir + "/run.jsonl"
        settings.batch = 20
        final class Calls: @unchecked Sendable { var count = 0 }
        let calls = Calls()
        let first = try Evaluation.evaluate(model, name: "digits", set: set, settings: settings) {
            calls.count += 1
            return calls.count == 3  // "Ctrl-C" after the third batch
        }
        #expect(first.interrupted && first.evaluated == 60 && first.expectations.isEmpty)
        #expect(first.text.contains("INTERRUPTED: partial result after 60 of 300 images"))
        let lines = try String(contentsOfFile: settings.resume!, encoding: .utf8).split(separator: "\n")
        #expect(lines.count == 61 && lines[0].hasPrefix("{\"format\":\"alexconv-evaluate-resume\""))

        let second = try Evaluation.evaluate(model, name: "digits", set: set, settings: settings) { false }
        #expect(!second.interrupted && second.resumed == 60 && second.rates.images == 240)
        #expect(second.predictions == whole.predictions)
        #expect(second.top1 == whole.top1 && second.top5 == whole.top5)
        #expect(second.text.contains("60 of them from the resume file"))
        // A third run has nothing left to do.
        let third = try Evaluation.evaluate(model, name: "digits", set: set, settings: settings) { false }
        #expect(third.resumed == 300 && third.rates.images == 0 && third.predictions == whole.predictions)
    }

    @Test("a resume file is refused when it belongs to other weights or preprocessing, is no resume file, or is an input")
    func resumeRefusals() throws {
        let dir = FixturePaths.temporaryDirectory("resume-refusals")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        var settings = Self.settings()
        settings.resume = dir + "/run.jsonl"
        settings.limit = 10
        _ = try Evaluation.evaluate(model: Self.torchModel, images: Self.digits, settings: settings)
        // The Keras form holds the same weights: the same model, accepted.
        let keras = try Evaluation.evaluate(model: FixturePaths.path("evaluate/digits_keras.h5"), images: Self.digits, settings: settings)
        #expect(keras.resumed == 10)
        // Other preprocessing.
        var other = settings
        other.resize = .shorterSide
        #expect(throws: UsageError.self) { try Evaluation.evaluate(model: Self.torchModel, images: Self.digits, settings: other) }
        do {
            _ = try Evaluation.evaluate(model: Self.torchModel, images: Self.digits, settings: other)
        } catch let error as UsageError {
            #expect(error.detail.contains("made with other preprocessing"))
        }
        // Other weights.
        let tiny = TinyModels.model(Presets.named("caffe-alexnet")!)
        let set = try ImageSetLoader.labelled(root: Self.digits, labels: nil, classes: 10)
        do {
            _ = try Evaluation.evaluate(tiny, name: "tiny", set: set, settings: settings)
            Issue.record("another model's resume file was accepted")
        } catch let error as UsageError {
            #expect(error.detail.contains("made with other model weights"))
        }
        // Not a resume file; an input of the command.
        let notes = dir + "/notes.txt"
        try "my notes".write(toFile: notes, atomically: true, encoding: .utf8)
        settings.resume = notes
        #expect(throws: UsageError.self) { try Evaluation.evaluate(model: Self.torchModel, images: Self.digits, settings: settings) }
        #expect(try String(contentsOfFile: notes, encoding: .utf8) == "my notes")
        settings.resume = Self.torchModel
        #expect(throws: UsageError.self) { try Evaluation.evaluate(model: Self.torchModel, images: Self.digits, settings: settings) }
        // A damaged record names its line.
        try "{\"format\":\"alexconv-evaluate-resume\"}\n".write(toFile: dir + "/bad.jsonl", atomically: true, encoding: .utf8)
        let header = ResumeFile.Header(model: tiny, input: tiny.spec.input, labels: .imageFolder, top: 5, reduceLargeJPEGs: true)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let text = String(decoding: try encoder.encode(header), as: UTF8.self) + "\n{\"image\": 3}\n"
        try text.write(toFile: dir + "/bad.jsonl", atomically: true, encoding: .utf8)
        do {
            _ = try ResumeFile.load(path: dir + "/bad.jsonl", expecting: header)
            Issue.record("a damaged record was read")
        } catch let error as FormatError {
            #expect(error.location == "line 2" && error.kind == .malformed)
        }
    }

    @Test("the CI gate: exit 0 within the tolerance, 1 when missed, 3 for bad labels; JSON and JUnit reports")
    func ciGate() throws {
        let dir = FixturePaths.temporaryDirectory("ci-gate")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let base = ["evaluate", Self.torchModel, "--images", Self.digits, "--limit", "100"]
        let (ok, okOut, _) = try Self.alexconv(base + ["--expect-top1", "94", "--tolerance", "1.5", "--junit", dir + "/ok.xml"])
        #expect(ok == 0, "\(okOut)")
        #expect(okOut.contains("expectation: top-1") && okOut.contains(": ok"))
        let junit = try String(contentsOfFile: dir + "/ok.xml", encoding: .utf8)
        #expect(junit.contains("<testsuite name=\"alexconv evaluate\" tests=\"1\" failures=\"0\""))

        let (missed, missedOut, missedErr) = try Self.alexconv(base + ["--expect-top1", "57.1", "--expect-top5", "100", "--json", "--junit", dir + "/missed.xml"])
        #expect(missed == 1)
        #expect(missedErr.split(separator: "\n").last?.hasPrefix("alexconv: expectation missed: top-1 95.00% expected 57.10 ± 0.1: MISSED by 37.90 points") == true, "\(missedErr)")
        let json = try JSONSerialization.jsonObject(with: Data(missedOut.utf8)) as? [String: Any]
        #expect(json?["passed"] as? Bool == false && (json?["evaluated"] as? Int) == 100)
        #expect((json?["expectations"] as? [[String: Any]])?.count == 2)
        #expect(try String(contentsOfFile: dir + "/missed.xml", encoding: .utf8).contains("<failure message=\"top-1"))

        // An existing report is not replaced without --force (checked before the run).
        let (exists, _, existsErr) = try Self.alexconv(base + ["--junit", dir + "/ok.xml"])
        #expect(exists == 2 && existsErr.contains("already exists"))
        // A label beyond the model's classes.
        try "3/d0060.png 12\n".write(toFile: dir + "/val.txt", atomically: true, encoding: .utf8)
        let (bad, _, badErr) = try Self.alexconv(["evaluate", Self.torchModel, "--images", Self.digits, "--labels", dir + "/val.txt"])
        #expect(bad == 3 && badErr.contains("val.txt: line 1: label 12 is outside the model's 10 classes"), "\(badErr)")
    }

    @Test("Ctrl-C prints the partial result (exit 130) and keeps the resume file; the same command then finishes")
    func interruptAndResume() throws {
        let dir = FixturePaths.temporaryDirectory("interrupt")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        // Three links to every fixture image: a run long enough to interrupt.
        let fm = FileManager.default
        for folder in try fm.contentsOfDirectory(atPath: Self.digits) {
            try fm.createDirectory(atPath: dir + "/images/" + folder, withIntermediateDirectories: true)
            for name in try fm.contentsOfDirectory(atPath: Self.digits + "/" + folder) {
                for copy in 0..<3 {
                    try fm.createSymbolicLink(atPath: "\(dir)/images/\(folder)/\(copy)-\(name)", withDestinationPath: "\(Self.digits)/\(folder)/\(name)")
                }
            }
        }
        let arguments = ["evaluate", Self.torchModel, "--images", dir + "/images", "--batch", "4", "--resume", dir + "/run.jsonl"]
        let (status, output, errors) = try Self.alexconv(arguments) { process, stderr in
            // Progress lines (stderr is not a terminal: one every 10%) show the run is under way.
            var seen = Data()
            while process.isRunning {
                seen += stderr.availableData
                if String(decoding: seen, as: UTF8.self).contains("evaluating: ") { break }
            }
            process.interrupt()
        }
        #expect(status == 130, "\(errors)")
        #expect(output.contains("INTERRUPTED: partial result after"))
        #expect(errors.contains("alexconv: interrupted after") && errors.contains("run the same command again to continue"))
        let kept = try String(contentsOfFile: dir + "/run.jsonl", encoding: .utf8).split(separator: "\n").count - 1
        #expect(kept > 0 && kept < 900)

        let (again, againOut, againErr) = try Self.alexconv(arguments)
        #expect(again == 0, "\(againErr)")
        #expect(againOut.contains("evaluated: 900 images (0 unreadable, \(kept) of them from the resume file)"), "\(againOut)")
        #expect(againOut.contains("top-1: 89.67% (807 of 900)"))
        #expect(try fm.contentsOfDirectory(atPath: dir).filter { $0.contains(".tmp-alexconv-") }.isEmpty)
    }
}
