import Foundation
import KetchShared
import Testing

@Suite struct CodecTests {
    @Test(arguments: WireFixtures.apiMessages)
    func everyAPIMessageRoundTrips(_ message: WireMessage) throws {
        let line = try WireCodec.encode(message)
        #expect(line.last == 0x0A)
        #expect(!line.dropLast().contains(0x0A), "a message must encode to exactly one line")
        #expect(try WireCodec.decode(line.dropLast(), port: .api) == message)
    }

    @Test(arguments: WireFixtures.memberMessages)
    func everyMemberMessageRoundTrips(_ message: WireMessage) throws {
        let line = try WireCodec.encode(message)
        #expect(try WireCodec.decode(line.dropLast(), port: .member) == message)
    }

    @Test func everyLineCarriesVersionAndType() throws {
        for message in WireFixtures.apiMessages + WireFixtures.memberMessages {
            let text = try WireCodec.encodeString(message)
            #expect(text.hasPrefix("{"))
            #expect(text.contains("\"type\":\"\(message.type)\""))
            #expect(text.contains("\"v\":1"))
        }
    }

    @Test func encodingIsDeterministicWithSortedKeysAndUnescapedSlashes() throws {
        let message = WireMessage.reply(id: 1, .conninfo("host=/var/run/postgresql dbname=mydb1"))
        let a = try WireCodec.encodeString(message)
        let b = try WireCodec.encodeString(message)
        #expect(a == b)
        #expect(a == #"{"id":1,"reply":{"conninfo":"host=/var/run/postgresql dbname=mydb1"},"type":"reply","v":1}"#)
    }

    @Test func nonFiniteDoublesDoNotBreakALine() throws {
        var status = WireFixtures.replicaStatus
        status.members[1].postgres?.lagSeconds = .infinity
        let message = WireMessage.feed(.delta(sequence: 1, change: .replica(status)))
        let line = try WireCodec.encode(message)
        #expect(try WireCodec.decode(line.dropLast(), port: .api) == message)
    }

    static func code(_ text: String, port: WirePort = .api) -> WireError.Code? {
        do {
            _ = try WireCodec.decode(Array(text.utf8), port: port)
            return nil
        } catch {
            return error.code
        }
    }

    @Test func badUTF8IsReportedAsSuch() {
        do {
            _ = try WireCodec.decode([0x7B, 0xC3, 0x28, 0x7D], port: .api)
            Issue.record("invalid UTF-8 decoded")
        } catch {
            #expect(error.code == .badUTF8)
            #expect(error.message.contains("UTF-8"))
        }
    }

    @Test(arguments: ["not json", "[1,2]", "\"a string\"", "42", "{\"v\":1,", "{}}"])
    func nonObjectsAreBadJSON(_ text: String) {
        #expect(Self.code(text) == .badJSON)
    }

    @Test(arguments: [#"{"type":"request"}"#, #"{"v":2,"type":"request"}"#, #"{"v":"1","type":"request"}"#, #"{"v":0,"type":"feed"}"#])
    func wrongOrMissingVersionIsBadVersion(_ text: String) {
        #expect(Self.code(text) == .badVersion)
    }

    @Test func versionErrorSaysWhatIsSpoken() throws {
        do {
            _ = try WireCodec.decode(Array(#"{"v":2,"type":"request","id":4}"#.utf8), port: .api)
        } catch {
            #expect(error.message == "wire version 2 is not supported; this node speaks version 1")
            #expect(error.requestID == 4)
        }
    }

    @Test func unknownTypesNameWhatThePortAccepts() {
        #expect(Self.code(#"{"v":1}"#) == .unknownType)
        #expect(Self.code(#"{"v":1,"type":7}"#) == .unknownType)
        #expect(Self.code(#"{"v":1,"type":"teleport"}"#) == .unknownType)
        #expect(Self.code(#"{"v":1,"type":"envelope","envelope":{}}"#, port: .api) == .unknownType)
        #expect(Self.code(#"{"v":1,"type":"request","id":1,"request":{"subscribe":{}}}"#, port: .member) == .unknownType)
        do {
            _ = try WireCodec.decode(Array(#"{"v":1,"type":"teleport"}"#.utf8), port: .member)
        } catch {
            #expect(error.message == "unknown line type 'teleport' on the member port; accepted: hello, auth, welcome, error, envelope")
        }
    }

    @Test func badFieldsNameThePath() {
        func message(_ text: String) -> String? {
            do { _ = try WireCodec.decode(Array(text.utf8), port: .api); return nil } catch { return error.code == .badMessage ? error.message : "wrong code \(error.code)" }
        }
        #expect(message(#"{"v":1,"type":"request","id":1}"#) == "bad 'request' line: missing field request")
        #expect(message(#"{"v":1,"type":"request","request":{"subscribe":{}}}"#) == "bad 'request' line: missing field id")
        #expect(message(#"{"v":1,"type":"request","id":"x","request":{"subscribe":{}}}"#)?.contains("field id has the wrong type") == true)
        #expect(message(#"{"v":1,"type":"hello"}"#) == "bad 'hello' line: missing field nonce")
        #expect(message(#"{"v":1,"type":"auth","nonce":"ab","role":"admin","mac":"00"}"#)?.hasPrefix("bad 'auth' line: field role") == true)
        #expect(message(#"{"v":1,"type":"request","id":1,"request":{"createReplica":{"spec":{"name":"x"}}}}"#)?.contains("request.createReplica.spec.") == true)
    }

    @Test func unknownExtraFieldsAreTolerated() throws {
        let text = #"{"v":1,"type":"hello","nonce":"ab","future":true}"#
        #expect(try WireCodec.decode(Array(text.utf8), port: .api) == .hello(Hello(nonce: "ab")))
    }

    @Test func errorMessagesStayOnOneShortLine() {
        let long = String(repeating: "x", count: 5000)
        do {
            _ = try WireCodec.decode(Array(#"{"v":1,"type":"\#(long)"}"#.utf8), port: .api)
        } catch {
            #expect(error.message.count < 400)
            #expect(!error.message.contains("\n"))
        }
    }
}
