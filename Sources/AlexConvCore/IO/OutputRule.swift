import Foundation

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// The one rule for every file a command writes (converted models, `run` outputs, JUnit reports):
/// never over one of the command's inputs, whatever the spelling (symlinks, `./`, hard links);
/// never over a directory; never over an existing name (a dangling symlink included) unless allowed.
public enum OutputRule {
    /// Throws a `UsageError` when writing `output` would break the rule.
    public static func check(_ output: String, inputs: [String], overwrite: Bool) throws {
        for input in inputs where sameFile(output, input) {
            let spelling = input == output ? "" : " (\(input))"
            throw UsageError("\(output): is an input of this command\(spelling); alexconv never writes over its inputs (choose another output name)")
        }
        try checkWritable(output, overwrite: overwrite)
    }

    /// Throws when `path` is a directory, or exists and `overwrite` is false.
    public static func checkWritable(_ path: String, overwrite: Bool) throws {
        var link = stat()
        guard lstat(path, &link) == 0 else { return }
        var target = stat()
        if stat(path, &target) == 0, (target.st_mode & S_IFMT) == S_IFDIR {
            throw UsageError("\(path): is a directory; name a file to write")
        }
        if !overwrite {
            let what = (link.st_mode & S_IFMT) == S_IFLNK && stat(path, &target) != 0 ? "exists as a symbolic link to a missing file" : "already exists"
            throw UsageError("\(path): \(what)", remedy: .allowOverwrite)
        }
    }

    /// True when `a` and `b` name the same existing file (same device and inode after following links).
    public static func sameFile(_ a: String, _ b: String) -> Bool {
        var sa = stat()
        var sb = stat()
        guard stat(a, &sa) == 0, stat(b, &sb) == 0 else { return false }
        return sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino
    }
}
