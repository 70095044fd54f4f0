import AlexConvCore
import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// Runs a command as a child process and reports its wall time and peak resident memory
/// (`wait4`'s ru_maxrss), so each side of a benchmark is measured the same way, in isolation.
enum ChildProcess {
    struct Result {
        var seconds: Double
        var peakRSSBytes: Int
        var status: Int32
        var output: String
    }

    static func run(_ arguments: [String], environment: [String: String] = [:]) throws -> Result {
        let outputPath = NSTemporaryDirectory() + "alexconv-bench-\(UUID().uuidString).log"
        defer { unlink(outputPath) }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 1, outputPath, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        posix_spawn_file_actions_adddup2(&actions, 1, 2)
        var env = ProcessInfo.processInfo.environment
        for (k, v) in environment { env[k] = v }
        let envStrings = env.map { "\($0.key)=\($0.value)" }
        var argv: [UnsafeMutablePointer<CChar>?] = arguments.map { strdup($0) } + [nil]
        var envp: [UnsafeMutablePointer<CChar>?] = envStrings.map { strdup($0) } + [nil]
        defer {
            argv.forEach { free($0) }
            envp.forEach { free($0) }
        }
        var pid: pid_t = 0
        let start = DispatchTime.now().uptimeNanoseconds
        let rc = posix_spawnp(&pid, arguments[0], &actions, nil, &argv, &envp)
        guard rc == 0 else { throw IOError(path: arguments[0], "cannot start: \(String(cString: strerror(rc)))") }
        var status: Int32 = 0
        var usage = rusage()
        while wait4(pid, &status, 0, &usage) < 0 && errno == EINTR {}
        let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
        let output = (try? String(contentsOfFile: outputPath, encoding: .utf8)) ?? ""
        let exit = (status & 0x7f) == 0 ? (status >> 8) & 0xff : 128 + (status & 0x7f)
        return Result(seconds: seconds, peakRSSBytes: Int(usage.ru_maxrss) * 1024, status: exit, output: output)
    }

    /// Best (lowest wall time) of `repeats` runs; throws if any run fails.
    static func best(_ arguments: [String], repeats: Int, environment: [String: String] = [:]) throws -> Result {
        var best: Result?
        for _ in 0..<repeats {
            let r = try run(arguments, environment: environment)
            guard r.status == 0 else {
                throw IOError(path: arguments.joined(separator: " "), "exited \(r.status): \(r.output.suffix(500))")
            }
            if best == nil || r.seconds < best!.seconds {
                best = Result(seconds: r.seconds, peakRSSBytes: max(r.peakRSSBytes, best?.peakRSSBytes ?? 0), status: 0, output: r.output)
            } else {
                best!.peakRSSBytes = max(best!.peakRSSBytes, r.peakRSSBytes)
            }
        }
        return best!
    }
}
