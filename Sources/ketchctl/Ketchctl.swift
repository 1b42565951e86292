import ArgumentParser
import Foundation
import KetchShared
import KetchWire

/// `ketchctl`: the command-line client of a Ketch cluster's api port.
@main
struct Ketchctl: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ketchctl",
        abstract: "Control a Ketch cluster: log in, inspect resources, create and fail over databases.",
        discussion: """
            Talks to one node's api port (default 7460). The node comes from --api-server, \
            KETCH_API_SERVER, or the last `ketchctl login`; the cluster secret file from \
            --secret-file, KETCH_SECRET_FILE, the login, or /etc/ketch/cluster.secret.
            """,
        subcommands: [Login.self, Get.self, Create.self, Delete.self, Failover.self, Conninfo.self])

    /// Declared here too so the seed's form `ketchctl --api-server X get server` works: options
    /// may come before or after the verb.
    @OptionGroup var connection: ConnectionOptions

    /// Home directory holding `.ketchctl.d/config`.
    static var home: String {
        ProcessInfo.processInfo.environment["HOME"].flatMap { $0.isEmpty ? nil : $0 } ?? NSHomeDirectory()
    }
}

extension ResourceKind: ExpressibleByArgument {}

/// Output formats of `get`.
enum OutputFormat: String, ExpressibleByArgument, CaseIterable {
    case yaml, json
}

struct Login: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Remember which node to talk to (and which secret file to use) in ~/.ketchctl.d/config.",
        discussion: "Checks that the node answers and accepts the secret before saving. The secret itself is never stored, only its path.")

    @Option(name: [.short, .customLong("server")], help: "Node name or address (e.g. server1).")
    var server: String

    @Option(name: [.short, .customLong("port")], help: "Its api port.")
    var port: Int = ConnectionOptions.defaultPort

    @OptionGroup var secret: SecretOptions

    @OptionGroup var timing: TimeoutOptions

    func run() async throws {
        let env = ProcessInfo.processInfo.environment
        let chosen = secret.secretFile ?? env["KETCH_SECRET_FILE"].flatMap { $0.isEmpty ? nil : $0 } ?? ConnectionOptions.defaultSecretFile
        let absolute = URL(fileURLWithPath: chosen).standardizedFileURL.path
        guard (1...65535).contains(port) else {
            throw CtlError("bad-port", "port \(port) is out of range; use 1 to 65535")
        }
        let resolved = ConnectionOptions.Resolved(endpoint: Endpoint(addr: server, port: port), secretFile: absolute)
        let client = try await ConnectionOptions.connect(resolved, timeout: timing.timeout)
        await client.close()
        try LoginConfig(server: server, port: port, secretFile: absolute).save(home: Ketchctl.home)
        print("logged in to \(server):\(port)")
    }
}

struct Get: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Show resources of the node: runtime, server, epoch, replica or dbmgr.")

    @OptionGroup var connection: ConnectionOptions

    @Argument(help: "Kind of resource.")
    var kind: ResourceKind

    @Argument(help: "Only the resource with this ID (or name).")
    var id: String?

    @Option(name: [.short, .customLong("output")], help: "Output format: yaml or json.")
    var output: OutputFormat = .yaml

    func run() async throws {
        let reply = try await connection.send(.get(kind: kind, id: id))
        guard case .resources(let list) = reply else {
            throw CtlError("bad-reply", "the node answered get with \(reply) instead of a resource list")
        }
        print(Self.render(list, as: output), terminator: "")
    }

    static func render(_ list: ResourceList, as format: OutputFormat) -> String {
        switch format {
        case .yaml:
            return YAMLFormatter.format(list)
        case .json:
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys, .prettyPrinted, .withoutEscapingSlashes]
            let data = (try? encoder.encode(list)) ?? Data("{}".utf8)
            return String(decoding: data, as: UTF8.self) + "\n"
        }
    }
}

struct Create: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Create a resource.",
        subcommands: [CreateReplica.self])
}

struct CreateReplica: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "replica",
        abstract: "Create a replicated database from a spec file (see examples/samplereplica.yaml).")

    @OptionGroup var connection: ConnectionOptions

    @Option(name: [.short, .customLong("file")], help: "Spec file in the seed's YAML shape, or - for standard input.")
    var file: String

    func run() async throws {
        let (text, source) = try Self.read(file)
        let specs = try ReplicaSpecFile.parse(text, source: source)
        for spec in specs {
            let reply = try await connection.send(.createReplica(spec: spec))
            print(Self.describe(reply, fallback: "replica \(spec.name) created"))
        }
    }

    static func read(_ file: String) throws(CtlError) -> (String, String) {
        let source = file == "-" ? "standard input" : file
        // A regular file too large is refused by its size, before anything is read.
        if file != "-", let size = (try? FileManager.default.attributesOfItem(atPath: file))?[.size] as? Int,
           let tooLarge = ReplicaSpec.specFileTooLarge(size, source: file) {
            throw CtlError("bad-spec", tooLarge)
        }
        guard let handle = file == "-" ? FileHandle.standardInput : FileHandle(forReadingAtPath: file) else {
            let why = FileManager.default.fileExists(atPath: file) ? "it is not readable" : "it does not exist"
            throw CtlError("bad-spec", "cannot read \(file): \(why)")
        }
        // Anything else (standard input, a pipe, a symlink) is read only up to one byte past the
        // limit, so an endless stream is refused too.
        let data: Data
        do { data = try handle.read(upToCount: ReplicaSpec.maxSpecFileBytes + 1) ?? Data() } catch {
            throw CtlError("bad-spec", "cannot read \(source): \(error.localizedDescription)")
        }
        if let tooLarge = ReplicaSpec.specFileTooLarge(data.count, source: source, readSoFar: true) {
            throw CtlError("bad-spec", tooLarge)
        }
        guard let text = String(data: data, encoding: .utf8) else {
            throw CtlError("bad-spec", "\(source) is not UTF-8 text")
        }
        return (text, source)
    }

    static func describe(_ reply: ControlReply, fallback: String) -> String {
        switch reply {
        case .ok(let message): message
        case .conninfo(let s): s
        case .progress(let message): message
        default: fallback
        }
    }
}

struct Delete: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Delete a resource.",
        subcommands: [DeleteReplica.self])
}

struct DeleteReplica: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "replica",
        abstract: "Delete a replicated database from Ketch (its Postgres data is kept on disk).")

    @OptionGroup var connection: ConnectionOptions

    @Argument(help: "Database name.")
    var name: String

    func run() async throws {
        let reply = try await connection.send(.deleteReplica(name: name))
        print(CreateReplica.describe(reply, fallback: "replica \(name) deleted"))
    }
}

struct Failover: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Move a database's primary to another server (planned switchover).",
        discussion: "Progress lines go to standard error as the node reports them; the final result to standard output.")

    @OptionGroup var connection: ConnectionOptions

    @Argument(help: "Database name.")
    var name: String

    @Option(name: .customLong("to"), help: "Server to promote (name or ID); default: the node chooses.")
    var to: String?

    /// Longer than the node's own limit for a switchover (60 s), so its outcome, success or
    /// the reason it gave up, is what this prints, never a timeout of its own.
    static let defaultSeconds = 75.0

    func run() async throws {
        let reply = try await connection.send(.failover(name: name, to: to), defaultSeconds: Self.defaultSeconds) { message in
            FileHandle.standardError.write(Data((message + "\n").utf8))
        }
        print(CreateReplica.describe(reply, fallback: "failover of \(name) done"))
    }
}

struct Conninfo: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Print the libpq multi-host connection string for a database.")

    @OptionGroup var connection: ConnectionOptions

    @Argument(help: "Database name.")
    var name: String

    func run() async throws {
        let reply = try await connection.send(.conninfo(name: name))
        guard case .conninfo(let text) = reply else {
            throw CtlError("bad-reply", "the node answered conninfo with \(reply) instead of a connection string")
        }
        print(text)
    }
}
