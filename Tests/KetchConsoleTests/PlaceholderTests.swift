import Testing

@Test func KetchConsoleBuilds() { #expect(1 + 1 == 2) }
