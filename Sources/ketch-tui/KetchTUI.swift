import ArgumentParser
import Foundation
import KetchConsole
import KetchWire

/// `ketch-tui`: the live cluster console.
@main
struct KetchTUI: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ketch-tui",
        abstract: "Live console for a Ketch cluster: members, databases, epochs, leases and lag; create, fail over and delete from the keyboard.",
        discussion: "Press ? in the console for every key. The terminal is restored on q, Ctrl-C and crashes.")

    @Option(name: .customLong("members"), help: "Comma-separated member names or host[:port] (KETCH_MEMBER_LIST).")
    var members: String?

    @Option(name: .customLong("api-port"), help: "Api port of the members (KETCH_API_PORT, default 7460).")
    var apiPort: Int?

    @Option(name: .customLong("secret-file"), help: "Cluster secret file (KETCH_SECRET_FILE, then ketchctl's login, then /etc/ketch/cluster.secret).")
    var secretFile: String?

    @Flag(name: .customLong("ascii"), help: "Draw with ASCII only (automatic when the locale is not UTF-8).")
    var ascii = false

    @Flag(name: .customLong("no-color"), help: "No colours (also NO_COLOR, or a terminal without colours).")
    var noColor = false

    /// Bad flags give one line on stderr and a non-zero exit, not a usage screen.
    static func main() {
        let command: KetchTUI
        do {
            command = try parseAsRoot() as! KetchTUI
        } catch {
            let code = exitCode(for: error)
            if code == .success {
                print(fullMessage(for: error))
                Foundation.exit(0)
            }
            let line = message(for: error).split(separator: "\n").first.map(String.init) ?? "bad arguments"
            FileHandle.standardError.write(Data("ketch-tui: \(line) (see ketch-tui --help)\n".utf8))
            Foundation.exit(code.rawValue == 0 ? 2 : code.rawValue)
        }
        do {
            try command.start()
        } catch {
            FileHandle.standardError.write(Data("ketch-tui: \(error)\n".utf8))
            Foundation.exit(1)
        }
    }

    func start() throws {
        let config: TUIConfig
        do {
            config = try TUIConfig.resolve(members: members, apiPort: apiPort, secretFile: secretFile, ascii: ascii, noColor: noColor,
                                           environment: ProcessInfo.processInfo.environment)
        } catch { throw error }
        let secret: ClusterSecret
        do {
            secret = try ClusterSecret(contentsOfFile: config.secretFile)
        } catch {
            throw TUIError(code: "secret", message: error.message)
        }
        guard isatty(STDOUT_FILENO) == 1, isatty(STDIN_FILENO) == 1 else {
            throw TUIError(code: "no-terminal", message: "ketch-tui needs a terminal on stdin and stdout; use ketchctl for scripts")
        }
        let terminal = Terminal(ascii: config.ascii, color: config.color)
        defer { Terminal.restore() }
        ConsoleRuntime(config: config, secret: secret).run(terminal: terminal)
    }
}
