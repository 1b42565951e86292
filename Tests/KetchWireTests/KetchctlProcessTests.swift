import Foundation
import KetchShared
import KetchWire
import Testing
@testable import ketchctl

/// Runs the built `ketchctl` binary against an in-test `APIServer`, as a user would.
@Suite("ketchctl as a process", .serialized)
struct KetchctlProcessTests {
    struct Run {
        var status: Int32
        var stdout: String
        var stderr: String
    }

    static var binary: String? {
        let candidates = [
            URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("ketchctl").path,
            URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
                .appendingPathComponent(".build/debug/ketchctl").path,
        ]
        return candidates.first { FileManager.default.isExecutableFile(atPath: $0) }
    }

    static func run(_ args: [String], home: String, stdin: String? = nil, env extra: [String: String] = [:]) async throws -> Run {
        let binary = try #require(Self.binary, "ketchctl is not built next to the tests; run swift build first")
        let result = await offPool { Result { try Self.runBlocking(binary, args, home: home, stdin: stdin, env: extra) } }
        return try result.get()
    }

    static func runBlocking(_ binary: String, _ args: [String], home: String, stdin: String?, env extra: [String: String]) throws -> Run {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: binary)
        process.arguments = args
        var env = ProcessInfo.processInfo.environment.filter { !$0.key.hasPrefix("KETCH_") }
        env["HOME"] = home
        for (k, v) in extra { env[k] = v }
        process.environment = env
        let out = Pipe(), err = Pipe(), input = Pipe()
        process.standardOutput = out
        process.standardError = err
        process.standardInput = input
        try process.run()
        if let stdin { input.fileHandleForWriting.write(Data(stdin.utf8)) }
        try input.fileHandleForWriting.close()
        let stdoutData = out.fileHandleForReading.readDataToEndOfFile()
        let stderrData = err.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return Run(status: process.terminationStatus, stdout: String(decoding: stdoutData, as: UTF8.self), stderr: String(decoding: stderrData, as: UTF8.self))
    }

    static func writeSecret(_ home: String, _ text: String) -> String {
        let path = home + "/secret"
        _ = FileManager.default.createFile(atPath: path, contents: Data((text + "\n").utf8), attributes: [.posixPermissions: 0o600])
        return path
    }

    static let secretText = "0123456789abcdef-test-secret"

    @Test func loginThenGetPrintsTheSeedsShape() async throws {
        let (server, endpoint) = try await startServer()
        defer { Task { await server.shutdown() } }
        try await withTemporaryHome { home in
            let secret = Self.writeSecret(home, Self.secretText)
            let login = try await Self.run(["login", "-s", "127.0.0.1", "-p", "\(endpoint.port)", "--secret-file", secret], home: home)
            #expect(login.status == 0, "\(login.stderr)")
            #expect(login.stdout == "logged in to 127.0.0.1:\(endpoint.port)\n")
            let saved = try String(contentsOfFile: home + "/.ketchctl.d/config", encoding: .utf8)
            #expect(saved.contains(secret) && !saved.contains(Self.secretText))

            let get = try await Self.run(["get", "server"], home: home)
            #expect(get.status == 0, "\(get.stderr)")
            #expect(get.stdout == "data:\n- attributes:\n    name: server1\n  id: id-1\n  type: server\n")
            let json = try await Self.run(["get", "server", "-o", "json"], home: home)
            #expect(json.stdout.contains("\"type\" : \"server\""))
        }
    }

    @Test func wrongSecretExitsNonZeroWithOneLine() async throws {
        let (server, endpoint) = try await startServer()
        defer { Task { await server.shutdown() } }
        try await withTemporaryHome { home in
            let secret = Self.writeSecret(home, "a-different-secret-of-enough-length")
            let run = try await Self.run(["--api-server", "127.0.0.1", "--api-port", "\(endpoint.port)", "--secret-file", secret, "get", "server"], home: home)
            #expect(run.status != 0)
            #expect(run.stdout.isEmpty)
            #expect(run.stderr.split(separator: "\n").count == 1)
            #expect(run.stderr.contains("auth-failed"))
            #expect(run.stderr.contains("the cluster secret does not match; use the same secret file as the nodes (--secret-file / KETCH_SECRET_FILE)"))
        }
    }

    @Test func unreachableNodeNamesHostAndPort() async throws {
        let (server, endpoint) = try await startServer()
        await server.shutdown()
        try await withTemporaryHome { home in
            let secret = Self.writeSecret(home, Self.secretText)
            let run = try await Self.run(["get", "server"], home: home,
                                   env: ["KETCH_API_SERVER": "127.0.0.1", "KETCH_API_PORT": "\(endpoint.port)", "KETCH_SECRET_FILE": secret])
            #expect(run.status != 0)
            #expect(run.stderr == "Error: unreachable: cannot reach 127.0.0.1:\(endpoint.port): connection refused; is ketch-node running there, and are the host and port right?\n")
        }
    }

    @Test func errorRepliesExitNonZero() async throws {
        let (server, endpoint) = try await startServer()
        defer { Task { await server.shutdown() } }
        try await withTemporaryHome { home in
            let secret = Self.writeSecret(home, Self.secretText)
            let run = try await Self.run(["--api-server", "127.0.0.1", "--api-port", "\(endpoint.port)", "--secret-file", secret, "delete", "replica", "nope"], home: home)
            #expect(run.status != 0)
            #expect(run.stderr == "Error: not-found: no replica named nope\n")
        }
    }

    @Test func failoverPrintsProgressOnStderrAndTheResultOnStdout() async throws {
        let (server, endpoint) = try await startServer()
        defer { Task { await server.shutdown() } }
        try await withTemporaryHome { home in
            let secret = Self.writeSecret(home, Self.secretText)
            let run = try await Self.run(["--api-server", "127.0.0.1", "--api-port", "\(endpoint.port)", "--secret-file", secret, "failover", "mydb1"], home: home)
            #expect(run.status == 0)
            #expect(run.stderr == "closing epoch of mydb1\npromoting\n")
            #expect(run.stdout == "failed over mydb1\n")
        }
    }

    @Test func createReadsTheSpecFromStdinAndRefusesBadSpecsWithoutConnecting() async throws {
        try await withTemporaryHome { home in
            let secret = Self.writeSecret(home, Self.secretText)
            // Port 1: nothing listens; a bad spec must fail before any connection attempt.
            let bad = try await Self.run(["--api-server", "127.0.0.1", "--api-port", "1", "--secret-file", secret, "create", "replica", "-f", "-"],
                                   home: home, stdin: "data:\n- attributes: {name: mydb1}\n  type: replica\n")
            #expect(bad.status != 0)
            #expect(bad.stderr == "Error: bad-spec: standard input: missing field data[0].attributes.quorumGroupSize\n")
        }
        let (server, endpoint) = try await startServer()
        defer { Task { await server.shutdown() } }
        try await withTemporaryHome { home in
            let secret = Self.writeSecret(home, Self.secretText)
            let sample = KetchctlSpecTests.sampleURL.path
            let good = try await Self.run(["--api-server", "127.0.0.1", "--api-port", "\(endpoint.port)", "--secret-file", secret, "create", "replica", "-f", sample], home: home)
            #expect(good.status == 0, "\(good.stderr)")
            #expect(good.stdout == "done\n")
        }
    }
}
