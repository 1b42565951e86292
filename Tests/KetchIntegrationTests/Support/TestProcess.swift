import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Where the package's built executables are: `KETCH_BIN_DIR`, else `.build/debug` beside this file.
enum Binaries {
    static var directory: String {
        if let d = ProcessInfo.processInfo.environment["KETCH_BIN_DIR"], !d.isEmpty { return d }
        var url = URL(fileURLWithPath: #filePath)
        for _ in 0..<4 { url.deleteLastPathComponent() }
        return url.appendingPathComponent(".build/debug").path
    }
    static func path(_ name: String) -> String { directory + "/" + name }
}

struct TestFailure: Error, CustomStringConvertible {
    var description: String
    init(_ d: String) { description = d }
}

/// A child process the test started; stopped by PID (never by name) when the test ends.
final class TestProcess: @unchecked Sendable {
    let process: Process
    let logPath: String
    var pid: Int32 { process.processIdentifier }

    init(_ executable: String, _ arguments: [String], environment: [String: String] = [:], log: String, workingDirectory: String? = nil) throws {
        let p = Process()
        if let workingDirectory { p.currentDirectoryURL = URL(fileURLWithPath: workingDirectory) }
        p.executableURL = URL(fileURLWithPath: executable)
        p.arguments = arguments
        var env = ProcessInfo.processInfo.environment
        for (k, v) in environment { env[k] = v }
        p.environment = env
        FileManager.default.createFile(atPath: log, contents: nil)
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: log))
        handle.seekToEndOfFile()
        p.standardOutput = handle
        p.standardError = handle
        p.standardInput = FileHandle.nullDevice
        try p.run()
        process = p
        logPath = log
    }

    var isRunning: Bool { process.isRunning }
    func signal(_ sig: Int32) { if process.isRunning || sig == SIGCONT { kill(pid, sig) } }
    /// SIGKILL to the process and the children it started (found before it dies).
    func kill9() {
        let kids = childProcesses(of: pid)
        signal(SIGKILL)
        for k in kids { kill(k, SIGKILL) }
        waitForExit(seconds: 5)
    }

    /// Polls rather than `waitUntilExit`, which can hang on Linux when a grandchild lives on.
    func waitForExit(seconds: Double) {
        let deadline = Date().addingTimeInterval(seconds)
        while process.isRunning && Date() < deadline { usleep(10_000) }
    }

    func terminate(within seconds: Double = 5) {
        guard process.isRunning else { return }
        kill(pid, SIGCONT)
        kill(pid, SIGTERM)
        let deadline = Date().addingTimeInterval(seconds)
        while process.isRunning && Date() < deadline { usleep(20_000) }
        if process.isRunning { kill9() }
    }

    var log: String { (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? "" }
}

/// Direct children of `pid`, from /proc.
func childProcesses(of pid: Int32) -> [Int32] {
    guard let names = try? FileManager.default.contentsOfDirectory(atPath: "/proc") else { return [] }
    return names.compactMap { name -> Int32? in
        guard let child = Int32(name), let stat = try? String(contentsOfFile: "/proc/\(name)/stat", encoding: .utf8),
              let close = stat.lastIndex(of: ")") else { return nil }
        let fields = stat[stat.index(after: close)...].split(separator: " ")
        return fields.count > 2 && Int32(fields[1]) == pid ? child : nil
    }
}

/// Runs a command to completion, capturing its output.
struct CommandResult {
    var status: Int32
    var stdout: String
    var stderr: String
}

func runCommand(_ executable: String, _ arguments: [String], environment: [String: String] = [:], stdin: String? = nil) throws -> CommandResult {
    let p = Process()
    p.executableURL = URL(fileURLWithPath: executable)
    p.arguments = arguments
    var env = ProcessInfo.processInfo.environment
    for (k, v) in environment { env[k] = v }
    p.environment = env
    let out = Pipe(), err = Pipe()
    p.standardOutput = out
    p.standardError = err
    let input = Pipe()
    p.standardInput = stdin == nil ? FileHandle.nullDevice : input
    try p.run()
    if let s = stdin { input.fileHandleForWriting.write(Data(s.utf8)); try? input.fileHandleForWriting.close() }
    let o = out.fileHandleForReading.readDataToEndOfFile()
    let e = err.fileHandleForReading.readDataToEndOfFile()
    p.waitUntilExit()
    return CommandResult(status: p.terminationStatus, stdout: String(decoding: o, as: UTF8.self), stderr: String(decoding: e, as: UTF8.self))
}

/// Polls `condition` until it holds or `seconds` pass. Returns whether it held.
func eventually(within seconds: Double, every interval: Double = 0.05, _ condition: () async throws -> Bool) async rethrows -> Bool {
    let deadline = Date().addingTimeInterval(seconds)
    while true {
        if try await condition() { return true }
        if Date() >= deadline { return false }
        try? await Task.sleep(nanoseconds: UInt64(interval * 1e9))
    }
}

/// A temporary directory removed when the test ends.
final class TempDir: @unchecked Sendable {
    let path: String
    init(_ prefix: String) throws {
        var template = Array("/tmp/\(prefix)-XXXXXX".utf8CString)
        guard let p = mkdtemp(&template) else { throw TestFailure("mkdtemp failed") }
        path = String(cString: p)
        chmod(path, 0o755)
    }
    func remove() { try? FileManager.default.removeItem(atPath: path) }
}
