import Foundation
import KetchShared
import Synchronization
import Testing
@testable import KetchWire

@Suite("wire listener shutdown")
struct WireListenerTests {
    /// CI once died with "Deinited NIOAsyncWriter without calling finish()": NIO drops a
    /// connection accepted just as the server channel closes, and a dropped NIOAsyncChannel traps
    /// the process. Before the listener kept every accepted connection until it was served or
    /// closed, this test trapped on every run. Each round shuts down in the middle of a burst of
    /// connects, at a different point; afterwards no connection on the port may still be open
    /// on our side, and every client must find its connection closed.
    @Test func connectionsArrivingDuringShutdownAreAllClosed() async throws {
        for round in 0..<60 {
            let listener = WireListener(secret: testSecret, role: .peer, port: .member, limits: WireLimits(), logger: quietLogger)
            let endpoint = try await listener.start(host: "127.0.0.1", port: 0) { reader, _, _ in
                while await reader.next() != nil {}
            }
            let sockets = Mutex<[RawSocket]>([])
            let shutDownAfter = round % 30
            let finished = DispatchSemaphore(value: 0)
            // Connects from a plain thread, and lets shutdown begin after `shutDownAfter` of them.
            await withCheckedContinuation { (started: CheckedContinuation<Void, Never>) in
                Thread.detachNewThread {
                    for i in 0..<40 {
                        if i == shutDownAfter { started.resume() }
                        if let s = try? RawSocket(port: endpoint.port) { sockets.withLock { $0.append(s) } }
                    }
                    finished.signal()
                }
            }
            await listener.shutdown()
            // The rest of the burst, waited for off the cooperative pool.
            await offPool { finished.wait() }
            let deadline = ContinuousClock.now + .seconds(5)
            while Self.openServerSides(port: endpoint.port) > 0, ContinuousClock.now < deadline {
                try await Task.sleep(for: .milliseconds(10))
            }
            #expect(Self.openServerSides(port: endpoint.port) == 0, "round \(round): connections accepted during shutdown were left open")
            for socket in sockets.withLock({ $0 }) {
                // A connect that raced the listener's close can be half-open, with no socket
                // behind it at all: only a write makes the kernel answer with a reset.
                await socket.write("x\n")
                #expect(await socket.readUntilClosed(), "round \(round): a client's connection stayed open")
            }
        }
    }

    /// Our side's sockets on `port` that are still open (established, or closed by the client
    /// only), from /proc/net/tcp.
    static func openServerSides(port: Int) -> Int {
        guard let table = try? String(contentsOfFile: "/proc/net/tcp", encoding: .utf8) else { return -1 }
        let suffix = String(format: ":%04X", port)
        return table.split(separator: "\n").dropFirst().filter { row in
            let fields = row.split(separator: " ")
            guard fields.count > 3 else { return false }
            return fields[1].hasSuffix(suffix) && (fields[3] == "01" || fields[3] == "08")
        }.count
    }
}
