import AlexConv
import ArgumentParser
import Foundation

/// The `alexconv` command: converts AlexNet-family weights between formats and proves it.
@main
struct AlexConvCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "alexconv",
        abstract: "Convert AlexNet-family weights between npy, npz, Keras HDF5, PyTorch, safetensors and ONNX, and verify predictions survived.",
        discussion: """
            Every command that takes a MODEL accepts any readable weight file; it is imported on the fly.
            Exit codes: 0 success, 1 verification failed, 2 usage error, 3 unreadable or invalid input.
            Progress lines appear on stderr for work longer than a second when stderr is a terminal;
            --quiet (before or after the command name) turns them off.
            """,
        version: "0.1.0\nforward pass: \(ForwardKernels.automatic.summary())",
        subcommands: AlexConvCommand.allSubcommands)

    /// Runs the command line and turns every error into one line on stderr and the contract's exit code.
    static func main() {
        TemporaryFiles.prepareForSignals()
        ForwardKernels.preferPassiveOpenMPWaiting()
        do {
            // --quiet is global: it switches the progress line off and is not a subcommand option.
            var arguments = Array(CommandLine.arguments.dropFirst())
            if let quiet = arguments.firstIndex(where: { $0 == "--quiet" }) {
                ProgressLine.enabled = false
                arguments.remove(at: quiet)
            }
            var command = try parseAsRoot(arguments)
            try command.run()
        } catch let error as UserFacingError {
            fail(error.commandLineMessage, code: error.exitCode)
        } catch let error as ArgumentParser.ExitCode {
            Foundation.exit(error.rawValue)
        } catch {
            let code = exitCode(for: error)
            if code == .success {  // --help, --version
                print(fullMessage(for: error))
                Foundation.exit(0)
            }
            // One line, then where the rest is: no usage text after a usage error.
            let words = Array(CommandLine.arguments.dropFirst())
            let subcommand = allSubcommands.first { sub in words.contains(sub.configuration.commandName ?? "") }
            let help = "alexconv " + (subcommand?.configuration.commandName.map { $0 + " " } ?? "") + "--help"
            fail(message(for: error) + " (see `\(help)`)", code: code == .validationFailure ? 2 : code.rawValue == 1 ? 2 : code.rawValue)
        }
    }

    /// Prints `message`'s first line on stderr as `alexconv: ...` and exits with `code`.
    static func fail(_ message: String, code: Int32) -> Never {
        let line = message.split(separator: "\n").first.map(String.init) ?? message
        FileHandle.standardError.write(Data(("alexconv: " + oneLine(line) + "\n").utf8))
        Foundation.exit(code)
    }
}

/// Prints to standard error (Swift 6: Glibc's stderr global is not usable directly).
func printError(_ message: String) {
    FileHandle.standardError.write(Data((message + "\n").utf8))
}
