import Testing

@Test func KetchCoreBuilds() { #expect(1 + 1 == 2) }
