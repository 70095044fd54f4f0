import AlexConv
import Foundation
import TestSupport
import Testing

#if canImport(Glibc)
    import Glibc
#endif

// MARK: - One output rule for every command that writes; temporary files never outlive a run

@Suite("Outputs: never over an input, never over an existing name without --force, no leftovers")
struct HostileOutputTests {
    static let previous = Array("the previous file, which must survive\n".utf8)

    func temporaryFiles(in directory: String) -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []).filter { $0.contains(TemporaryFiles.marker) }
    }

    func contents(_ path: String) -> [UInt8]? { FileManager.default.contents(atPath: path).map { [UInt8]($0) } }

    /// The alexconv executable `swift build` puts beside the test bundle.
    static let executable: String = {
        let bundle = URL(fileURLWithPath: CommandLine.arguments[0]).standardizedFileURL
        var directory = bundle.deletingLastPathComponent()
        while directory.path != "/" && !directory.lastPathComponent.hasSuffix(".xctest") && !FileManager.default.fileExists(atPath: directory.appendingPathComponent("alexconv").path) {
            directory.deleteLastPathComponent()
        }
        if directory.lastPathComponent.hasSuffix(".xctest") { directory.deleteLastPathComponent() }
        return directory.appendingPathComponent("alexconv").path
    }()

    /// Runs alexconv with `arguments` in `directory`; returns (exit status or -signal, stderr).
    func alexconv(
        _ arguments: [String], in directory: String, through launcher: String? = nil,
        whileRunning: ((Process) -> Void)? = nil
    ) throws -> (Int32, String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: launcher ?? Self.executable)
        process.arguments = launcher == nil ? arguments : Array(arguments.dropFirst())
        process.currentDirectoryURL = URL(fileURLWithPath: directory)
        let errors = Pipe()
        process.standardError = errors
        process.standardOutput = FileHandle.nullDevice
        try process.run()
        whileRunning?(process)
        let text = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        let status = process.terminationReason == .uncaughtSignal ? -process.terminationStatus : process.terminationStatus
        return (status, text)
    }

    @Test("the output rule sees through hard links, symlinks and ./ spellings; refuses directories and dangling links")
    func outputRule() throws {
        let directory = FixturePaths.temporaryDirectory("outputs")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let input = directory + "/in.npy"
        FileManager.default.createFile(atPath: input, contents: Data(Self.previous))
        link(input, directory + "/hard.npy")
        try FileManager.default.createSymbolicLink(atPath: directory + "/soft.npy", withDestinationPath: input)
        for spelling in [input, directory + "/./in.npy", directory + "/hard.npy", directory + "/soft.npy"] {
            #expect(throws: UsageError.self, "\(spelling) was allowed over the input") {
                try OutputRule.check(spelling, inputs: [input], overwrite: true)
            }
            HostileCaseCounter.shared.add("outputs")
        }
        try FileManager.default.createSymbolicLink(atPath: directory + "/dangling.npy", withDestinationPath: directory + "/missing")
        do {
            try OutputRule.check(directory + "/dangling.npy", inputs: [input], overwrite: false)
            Issue.record("a dangling symlink was treated as a free name")
        } catch let error as UsageError {
            #expect(error.remedy == .allowOverwrite && error.description.contains("symbolic link"), "\(error)")
        }
        try FileManager.default.createDirectory(atPath: directory + "/dir.npy", withIntermediateDirectories: false)
        do {
            try OutputRule.check(directory + "/dir.npy", inputs: [], overwrite: true)
            Issue.record("a directory was accepted as an output")
        } catch let error as UsageError {
            #expect(error.description.contains("is a directory") && error.remedy == nil, "\(error)")
        }
        HostileCaseCounter.shared.add("outputs", 2)
    }

    @Test("without --force, a file created while alexconv writes is kept and reported")
    func noReplaceAtCommit() throws {
        let directory = FixturePaths.temporaryDirectory("outputs")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let path = directory + "/model.npy"
        let writer = try AtomicFileWriter(path: path, overwrite: false)
        try writer.write([UInt8](repeating: 7, count: 1000))
        FileManager.default.createFile(atPath: path, contents: Data(Self.previous))  // someone else, meanwhile
        #expect(throws: UsageError.self) { try writer.commit() }
        #expect(contents(path) == Self.previous)
        #expect(temporaryFiles(in: directory).isEmpty)
        HostileCaseCounter.shared.add("outputs")
    }

    @Test("two writers without --force racing for one new name: exactly one wins, the other is refused")
    func racingWriters() throws {
        let directory = FixturePaths.temporaryDirectory("outputs")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let path = directory + "/model.npy"
        let first = try AtomicFileWriter(path: path, overwrite: false)
        let second = try AtomicFileWriter(path: path, overwrite: false)
        try first.write(Array("first".utf8))
        try second.write(Array("second".utf8))
        try first.commit()
        #expect(throws: UsageError.self) { try second.commit() }
        #expect(contents(path) == Array("first".utf8))
        #expect(temporaryFiles(in: directory).isEmpty)
        HostileCaseCounter.shared.add("outputs")
    }

    @Test("--force keeps the replaced file's permission bits")
    func forceKeepsMode() throws {
        let directory = FixturePaths.temporaryDirectory("outputs")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let path = directory + "/model.npy"
        FileManager.default.createFile(atPath: path, contents: Data(Self.previous))
        chmod(path, 0o600)
        try writeAtomically(to: path, overwrite: true) { try $0.write(Array("new".utf8)) }
        var info = stat()
        stat(path, &info)
        #expect(info.st_mode & 0o777 == 0o600)
        #expect(contents(path) == Array("new".utf8))
        HostileCaseCounter.shared.add("outputs")
    }

    @Test("a 252-byte output name works: the temporary name is shortened to fit NAME_MAX")
    func longName() throws {
        let directory = FixturePaths.temporaryDirectory("outputs")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let name = String(repeating: "é", count: 124) + ".npy"  // 252 bytes of UTF-8
        #expect(name.utf8.count == 252)
        #expect(TemporaryFiles.templateName(for: name).utf8.count <= Int(NAME_MAX))
        let model = TinyModels.model(Presets.named("caffe-alexnet")!)
        try Conversion.export(model, inputPath: directory + "/in.npy", request: ExportRequest(format: "npy", output: directory + "/" + name))
        #expect(FileManager.default.fileExists(atPath: directory + "/" + name))
        #expect(temporaryFiles(in: directory).isEmpty)
        HostileCaseCounter.shared.add("outputs")
    }

    @Test("leftovers of a killed process are removed by the next writer in that directory; live ones are kept")
    func staleLeftovers() throws {
        let directory = FixturePaths.temporaryDirectory("outputs")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        // A process id that does not exist now: a child that has finished.
        let child = Process()
        child.executableURL = URL(fileURLWithPath: "/bin/true")
        try child.run()
        child.waitUntilExit()
        let dead = directory + "/.model.npy" + TemporaryFiles.marker + "\(child.processIdentifier)-Ab12Cd"
        let live = directory + "/.model.npy" + TemporaryFiles.marker + "\(getppid())-Ef34Gh"
        FileManager.default.createFile(atPath: dead, contents: Data(Self.previous))
        FileManager.default.createFile(atPath: live, contents: Data(Self.previous))
        var notices: [String] = []
        let saved = TemporaryFiles.notice
        TemporaryFiles.notice = { notices.append($0) }
        defer { TemporaryFiles.notice = saved }
        try writeAtomically(to: directory + "/other.npy") { try $0.write(Array("x".utf8)) }
        #expect(!FileManager.default.fileExists(atPath: dead))
        #expect(FileManager.default.fileExists(atPath: live))
        #expect(notices.count == 1 && notices[0].contains(dead), "\(notices)")
        HostileCaseCounter.shared.add("outputs")
    }

    @Test("FIFOs, pipes and devices are refused at once instead of waiting for a writer")
    func nonRegularInputs() throws {
        let directory = FixturePaths.temporaryDirectory("outputs")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let fifo = directory + "/model.npy"
        #expect(mkfifo(fifo, 0o600) == 0)
        for read in [
            { _ = try FormatRegistry.read(path: fifo) }, { _ = try ByteStorage.map(path: fifo) },
            { _ = try ArchitectureSpec.load(path: fifo) }, { _ = try readSmallFile(fifo, what: "expectations file") },
        ] {
            do {
                try read()
                Issue.record("a FIFO was read")
            } catch let error as IOError {
                #expect(error.description.contains("pipe or FIFO"), "\(error)")
            }
            HostileCaseCounter.shared.add("outputs")
        }
        #expect(throws: IOError.self) { _ = try FormatRegistry.read(path: "/dev/zero") }
        HostileCaseCounter.shared.add("outputs")
    }

    @Test("run --output and verify --junit obey the rule: never over an input, an existing file only with --force")
    func commandsThatWriteReports() throws {
        let directory = FixturePaths.temporaryDirectory("outputs")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let fixtures = FixturePaths.root
        let model = directory + "/model.alexnet.safetensors"
        let input = directory + "/x.npy"
        try FileManager.default.copyItem(atPath: fixtures + "/forward/half.alexnet.safetensors", toPath: model)
        try FileManager.default.copyItem(atPath: fixtures + "/forward/x227_u8.npy", toPath: input)
        let expect = fixtures + "/expected.json"
        let originals = [model, input, expect].map(contents)
        for arguments in [
            ["run", model, "--input", input, "--output", model],
            ["run", model, "--input", input, "--output", directory + "/./x.npy", "--force"],
            ["verify", "--expect", expect, "--junit", expect, "--force"],
        ] {
            let (status, message) = try alexconv(arguments, in: directory)
            #expect(status == 2 && message.contains("is an input of this command"), "\(arguments): \(status) \(message)")
            HostileCaseCounter.shared.add("outputs")
        }
        let report = directory + "/report.xml"
        FileManager.default.createFile(atPath: report, contents: Data(Self.previous))
        let (status, message) = try alexconv(["verify", "--expect", expect, "--junit", report], in: directory)
        #expect(status == 2 && message.contains("already exists") && message.contains("--force"), "\(status) \(message)")
        #expect(contents(report) == Self.previous)
        #expect([model, input, expect].map(contents) == originals)
        HostileCaseCounter.shared.add("outputs")
    }

    /// A full-size model (~244 MB as npy), so that a write is still under way when the signal comes.
    static func fullSizeModel(in directory: String) throws -> String {
        let spec = Presets.named("caffe-alexnet")!.spec()
        var tensors: [NamedTensor] = []
        for (name, shape) in try spec.expectedTensors() {
            tensors.append(NamedTensor(name, Tensor([Float](repeating: 0.25, count: shape.reduce(1, *)), shape: shape)))
        }
        let path = directory + "/full.alexnet.safetensors"
        try CanonicalFile.write(Model(spec: spec, tensors: tensors, source: "full size"), to: path)
        return path
    }

    @Test(
        "SIGINT, SIGTERM and SIGHUP mid-write remove the temporary file; SIGKILL's is removed by the next run",
        arguments: [SIGINT, SIGTERM, SIGHUP, SIGKILL])
    func interruptedWrite(signal: Int32) throws {
        let directory = FixturePaths.temporaryDirectory("outputs")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let model = try Self.fullSizeModel(in: directory)
        let small = try Self.tinyModel(in: directory)  // written now: a writer in this process would clean up too
        var sawTemporary = false
        let (status, _) = try alexconv(["convert", model, "out.npz"], in: directory) { process in
            let deadline = Date().addingTimeInterval(60)
            while Date() < deadline && process.isRunning {
                if !temporaryFiles(in: directory).isEmpty {
                    sawTemporary = true
                    break
                }
                usleep(500)
            }
            kill(process.processIdentifier, signal)
        }
        #expect(sawTemporary, "no temporary file appeared before the process ended")
        #expect(status == -signal, "exit status \(status), expected death by signal \(signal)")
        #expect(!FileManager.default.fileExists(atPath: directory + "/out.npz"))
        if signal == SIGKILL {
            #expect(temporaryFiles(in: directory).count == 1)
            let (next, message) = try alexconv(["convert", small, "small.npy"], in: directory)
            #expect(next == 0 && message.contains("interrupted run"), "\(next) \(message)")
        }
        #expect(temporaryFiles(in: directory).isEmpty, "left: \(temporaryFiles(in: directory))")
        HostileCaseCounter.shared.add("signals")
    }

    @Test(
        "a full disk (a 40 MB file-size limit) fails every format with one line and exit 3: no crash, nothing left",
        arguments: ["h5", "weights.h5", "keras", "npz", "pth", "onnx", "safetensors"])
    func fullDisk(format: String) throws {
        let directory = FixturePaths.temporaryDirectory("outputs")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let model = try Self.fullSizeModel(in: directory)
        let exporter = try FormatRegistry.exporter(for: format)
        let output = "out" + exporter.fileExtension(for: format)
        // RLIMIT_FSIZE with SIGXFSZ ignored: writes past 40 MB fail with EFBIG, as on a full disk.
        let (status, message) = try alexconv(
            [
                "/bin/sh", "-c", "trap '' XFSZ; ulimit -f 40960; exec \"$0\" \"$@\"", Self.executable,
                "convert", model, output,
            ], in: directory, through: "/bin/sh")
        #expect(status == 3, "\(format): exit \(status): \(message)")
        #expect(message.split(separator: "\n").count == 1 && message.contains("File too large"), "\(format): \(message)")
        #expect(!FileManager.default.fileExists(atPath: directory + "/" + output))
        #expect(temporaryFiles(in: directory).isEmpty, "left: \(temporaryFiles(in: directory))")
        HostileCaseCounter.shared.add("full disk")
    }

    static func tinyModel(in directory: String) throws -> String {
        let path = directory + "/tiny.alexnet.safetensors"
        try CanonicalFile.write(TinyModels.model(Presets.named("caffe-alexnet")!), to: path)
        return path
    }
}
