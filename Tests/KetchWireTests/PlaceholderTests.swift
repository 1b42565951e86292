import Testing

@Test func KetchWireBuilds() { #expect(1 + 1 == 2) }
