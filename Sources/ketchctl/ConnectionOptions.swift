import ArgumentParser
import Foundation
import KetchShared
import KetchWire

/// Where to reach a node and how to prove membership, shared by every command that talks to one.
/// Precedence: flag, then environment (`KETCH_API_SERVER`, `KETCH_API_PORT`, `KETCH_SECRET_FILE`),
/// then what `ketchctl login` saved, then defaults.
struct ConnectionOptions: ParsableArguments {
    static let defaultPort = 7460
    static let defaultSecretFile = ClusterSecret.defaultPath

    @Option(name: .customLong("api-server"), help: "Node to talk to (env KETCH_API_SERVER, else the login config).")
    var apiServer: String?

    @Option(name: .customLong("api-port"), help: "Its api port (env KETCH_API_PORT, else the login config, else 7460).")
    var apiPort: Int?

    @OptionGroup var secret: SecretOptions

    @OptionGroup var timing: TimeoutOptions

    var secretFile: String? { secret.secretFile }

    /// The settings after precedence is applied.
    struct Resolved: Equatable {
        var endpoint: Endpoint
        var secretFile: String
    }

    func resolve(environment: [String: String], config: LoginConfig?) throws(CtlError) -> Resolved {
        func nonEmpty(_ key: String) -> String? { environment[key].flatMap { $0.isEmpty ? nil : $0 } }
        guard let server = apiServer ?? nonEmpty("KETCH_API_SERVER") ?? config?.server else {
            throw CtlError("no-server", "no api server given; pass --api-server SERVER, set KETCH_API_SERVER, or run ketchctl login -s SERVER")
        }
        let port: Int
        if let apiPort {
            port = apiPort
        } else if let text = nonEmpty("KETCH_API_PORT") {
            guard let p = Int(text) else {
                throw CtlError("bad-port", "KETCH_API_PORT '\(text)' is not a port number; use 1 to 65535")
            }
            port = p
        } else {
            port = config?.port ?? Self.defaultPort
        }
        guard (1...65535).contains(port) else {
            throw CtlError("bad-port", "api port \(port) is out of range; use 1 to 65535")
        }
        let secret = secretFile ?? nonEmpty("KETCH_SECRET_FILE") ?? config?.secretFile ?? Self.defaultSecretFile
        return Resolved(endpoint: Endpoint(addr: server, port: port), secretFile: secret)
    }

    var timeout: Duration { timing.timeout }

    /// Resolves settings from this process's environment and login config, then connects.
    func connect() async throws(CtlError) -> APIClient {
        let resolved = try resolve(environment: ProcessInfo.processInfo.environment, config: LoginConfig.load(home: Ketchctl.home))
        return try await Self.connect(resolved, timeout: timeout)
    }

    static func connect(_ resolved: Resolved, timeout: Duration) async throws(CtlError) -> APIClient {
        let secret: ClusterSecret
        do throws(WireError) {
            secret = try ClusterSecret(contentsOfFile: resolved.secretFile)
        } catch {
            throw CtlError(error)
        }
        do throws(WireError) {
            return try await APIClient.connect(to: resolved.endpoint, secret: secret, timeout: min(timeout, .seconds(5)))
        } catch {
            throw CtlError(error)
        }
    }

    /// One request on a fresh connection; error replies become `CtlError`s. `defaultSeconds`:
    /// the wait when `--timeout` is not given.
    func send(_ request: ControlRequest, defaultSeconds: Double = TimeoutOptions.defaultSeconds,
              progress: (@Sendable (String) -> Void)? = nil) async throws(CtlError) -> ControlReply {
        let client = try await connect()
        let result: Result<ControlReply, WireError>
        do throws(WireError) {
            result = .success(try await client.request(request, timeout: timing.timeout(defaultSeconds: defaultSeconds), progress: progress))
        } catch {
            result = .failure(error)
        }
        await client.close()
        let reply: ControlReply
        switch result {
        case .success(let r): reply = r
        case .failure(let error): throw CtlError(error)
        }
        if case .error(let error) = reply { throw CtlError(error) }
        return reply
    }
}

/// `--secret-file`, shared by `login` and the commands that connect.
struct SecretOptions: ParsableArguments {
    @Option(name: .customLong("secret-file"), help: "Cluster secret file (env KETCH_SECRET_FILE, else the login config, else /etc/ketch/cluster.secret).")
    var secretFile: String?
}

/// `--timeout`, shared by `login` and the commands that connect.
struct TimeoutOptions: ParsableArguments {
    @Option(name: .customLong("timeout"), help: "Seconds to wait for the node's answer (default 30; 75 for failover, which the node itself gives 60 s).")
    var timeoutSeconds: Double?

    static let defaultSeconds = 30.0
    var timeout: Duration { timeout(defaultSeconds: Self.defaultSeconds) }
    func timeout(defaultSeconds: Double) -> Duration { .milliseconds(Int64(max(timeoutSeconds ?? defaultSeconds, 0.1) * 1000)) }
}
