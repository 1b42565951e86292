import Testing

@Test func KetchSimulationBuilds() { #expect(1 + 1 == 2) }
