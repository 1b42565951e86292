import Foundation
import KetchShared
import KetchWire
import Testing
@testable import ketchctl

/// A temporary HOME for login config tests, removed afterwards.
func withTemporaryHome(_ body: (String) async throws -> Void) async rethrows {
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent("ketchctl-home-\(UUID().uuidString)").path
    try! FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(atPath: dir) }
    try await body(dir)
}

@Suite struct KetchctlOptionTests {
    static func options(_ args: [String]) throws -> ConnectionOptions { try ConnectionOptions.parse(args) }

    @Test func flagsBeatEnvironmentWhichBeatsLoginConfig() throws {
        let config = LoginConfig(server: "server3", port: 9000, secretFile: "/cfg/secret")
        let env = ["KETCH_API_SERVER": "server2", "KETCH_API_PORT": "8000", "KETCH_SECRET_FILE": "/env/secret"]
        #expect(try Self.options(["--api-server", "server1", "--api-port", "7000", "--secret-file", "/flag/secret"]).resolve(environment: env, config: config)
                == .init(endpoint: Endpoint(addr: "server1", port: 7000), secretFile: "/flag/secret"))
        #expect(try Self.options([]).resolve(environment: env, config: config)
                == .init(endpoint: Endpoint(addr: "server2", port: 8000), secretFile: "/env/secret"))
        #expect(try Self.options([]).resolve(environment: [:], config: config)
                == .init(endpoint: Endpoint(addr: "server3", port: 9000), secretFile: "/cfg/secret"))
        #expect(try Self.options(["--api-server", "server1"]).resolve(environment: [:], config: nil)
                == .init(endpoint: Endpoint(addr: "server1", port: 7460), secretFile: "/etc/ketch/cluster.secret"))
    }

    @Test func missingServerAndBadPortsAreOneLineErrors() throws {
        let none = try Self.options([]), named = try Self.options(["--api-server", "s"])
        let badPort = try Self.options(["--api-server", "s", "--api-port", "70000"])
        do throws(CtlError) {
            _ = try none.resolve(environment: [:], config: nil)
            Issue.record("resolved without a server")
        } catch {
            #expect(error.description == "no-server: no api server given; pass --api-server SERVER, set KETCH_API_SERVER, or run ketchctl login -s SERVER")
        }
        do throws(CtlError) {
            _ = try named.resolve(environment: ["KETCH_API_PORT": "abc"], config: nil)
            Issue.record("accepted a bad port")
        } catch {
            #expect(error.description == "bad-port: KETCH_API_PORT 'abc' is not a port number; use 1 to 65535")
        }
        do throws(CtlError) {
            _ = try badPort.resolve(environment: [:], config: nil)
            Issue.record("accepted a bad port")
        } catch {
            #expect(error.code == "bad-port")
        }
    }

    @Test func seedStyleGlobalOptionsParseBeforeTheVerb() throws {
        let command = try Ketchctl.parseAsRoot(["--api-server", "server2", "--api-port", "7461", "get", "server", "-o", "json"])
        let get = try #require(command as? Get)
        #expect(get.connection.apiServer == "server2")
        #expect(get.connection.apiPort == 7461)
        #expect(get.kind == .server)
        #expect(get.output == .json)
        let after = try #require(try Ketchctl.parseAsRoot(["get", "replica", "mydb1", "--api-server", "s"]) as? Get)
        #expect(after.id == "mydb1" && after.connection.apiServer == "s")
        let failover = try #require(try Ketchctl.parseAsRoot(["failover", "mydb1", "--to", "server3"]) as? Failover)
        #expect(failover.name == "mydb1" && failover.to == "server3")
        #expect(try Ketchctl.parseAsRoot(["create", "replica", "-f", "-"]) is CreateReplica)
        #expect(try Ketchctl.parseAsRoot(["delete", "replica", "mydb1"]) is DeleteReplica)
        #expect(try Ketchctl.parseAsRoot(["conninfo", "mydb1"]) is Conninfo)
        let login = try #require(try Ketchctl.parseAsRoot(["login", "-s", "server1", "-p", "7461", "--secret-file", "/s"]) as? Login)
        #expect(login.server == "server1" && login.port == 7461 && login.secret.secretFile == "/s")
    }

    @Test func badKindsAndMissingArgumentsAreRefused() {
        #expect(throws: (any Error).self) { try Ketchctl.parseAsRoot(["get", "planet"]) }
        #expect(throws: (any Error).self) { try Ketchctl.parseAsRoot(["create", "replica"]) }
        #expect(throws: (any Error).self) { try Ketchctl.parseAsRoot(["get", "server", "-o", "xml"]) }
    }

    @Test func helpTextNamesEveryCommandAndOption() {
        let root = Ketchctl.helpMessage()
        for word in ["login", "get", "create", "delete", "failover", "conninfo", "--api-server", "--api-port", "--secret-file", "KETCH_API_SERVER"] {
            #expect(root.contains(word), "root help lacks \(word)")
        }
        let get = Get.helpMessage(for: Get.self, columns: 200)
        #expect(get.contains("USAGE: get [--api-server <api-server>] [--api-port <api-port>] [--secret-file <secret-file>] [--timeout <timeout>] <kind> [<id>] [--output <output>]"))
        #expect(get.contains("values: runtime, server, epoch, replica, dbmgr"))
        #expect(get.contains("-o, --output <output>"))
        let login = Login.helpMessage(for: Login.self, columns: 200)
        #expect(login.contains("-s, --server <server>"))
        #expect(login.contains("-p, --port <port>"))
        #expect(login.contains("(default: 7460)"))
        #expect(Failover.helpMessage(for: Failover.self, columns: 200).contains("--to <to>"))
        #expect(CreateReplica.helpMessage(for: CreateReplica.self, columns: 200).contains("-f, --file <file>"))
    }

    @Test func loginConfigIsPrivateAndHoldsOnlyThePath() async throws {
        try await withTemporaryHome { home in
            #expect(try LoginConfig.load(home: home) == nil)
            let config = LoginConfig(server: "server1", port: 7460, secretFile: "/etc/ketch/cluster.secret")
            try config.save(home: home)
            #expect(try LoginConfig.load(home: home) == config)
            let path = LoginConfig.path(home: home)
            let attributes = try FileManager.default.attributesOfItem(atPath: path)
            #expect((attributes[.posixPermissions] as? NSNumber)?.intValue == 0o600)
            let dirAttributes = try FileManager.default.attributesOfItem(atPath: LoginConfig.directory(home: home))
            #expect((dirAttributes[.posixPermissions] as? NSNumber)?.intValue == 0o700)
            try LoginConfig(server: "server2", port: 7461, secretFile: nil).save(home: home)
            #expect(try LoginConfig.load(home: home)?.server == "server2")

            try "garbage".write(toFile: path, atomically: true, encoding: .utf8)
            do throws(CtlError) {
                _ = try LoginConfig.load(home: home)
                Issue.record("garbage config accepted")
            } catch {
                #expect(error.code == "bad-config")
                #expect(error.message.contains(path))
            }
        }
    }

    /// `ketchctl failover` waits longer than the node's own 60 s limit, so it prints the node's
    /// outcome rather than a timeout of its own (issue 17); `--timeout` still wins.
    @Test func failoverWaitsLongerThanTheNode() throws {
        let plain = try #require(try Ketchctl.parseAsRoot(["failover", "mydb1"]) as? Failover)
        #expect(plain.connection.timing.timeout(defaultSeconds: Failover.defaultSeconds) == .seconds(75))
        #expect(plain.connection.timing.timeout == .seconds(30))
        let given = try #require(try Ketchctl.parseAsRoot(["failover", "mydb1", "--timeout", "10"]) as? Failover)
        #expect(given.connection.timing.timeout(defaultSeconds: Failover.defaultSeconds) == .seconds(10))
    }
}
