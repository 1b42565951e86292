/// The characters used for frames, bars and sparklines, in a UTF-8 set and an ASCII fallback for
/// terminals (or locales) that cannot show box drawing.
public struct Glyphs: Hashable, Sendable {
    public var horizontal: Character
    public var vertical: Character
    public var topLeft: Character
    public var topRight: Character
    public var bottomLeft: Character
    public var bottomRight: Character
    public var barFull: Character
    public var barEmpty: Character
    /// Sparkline levels from lowest to highest.
    public var spark: [Character]
    public var selected: Character
    public var ellipsis: Character
    public var up: String
    public var down: String

    public static let unicode = Glyphs(
        horizontal: "─", vertical: "│", topLeft: "┌", topRight: "┐", bottomLeft: "└", bottomRight: "┘",
        barFull: "█", barEmpty: "░", spark: ["▁", "▂", "▃", "▄", "▅", "▆", "▇", "█"], selected: "▶",
        ellipsis: "…", up: "↑", down: "↓")

    public static let ascii = Glyphs(
        horizontal: "-", vertical: "|", topLeft: "+", topRight: "+", bottomLeft: "+", bottomRight: "+",
        barFull: "#", barEmpty: ".", spark: ["_", ".", "-", "=", "+", "*", "%", "#"], selected: ">",
        ellipsis: "~", up: "^", down: "v")
}

/// How to draw: chosen by the painter from the terminal's abilities.
public struct RenderOptions: Hashable, Sendable {
    public var glyphs: Glyphs
    /// When false every style's colour is dropped; bold, reverse and dim remain.
    public var color: Bool
    public init(glyphs: Glyphs = .unicode, color: Bool = true) { self.glyphs = glyphs; self.color = color }
    public static let standard = RenderOptions()
    public static let plain = RenderOptions(glyphs: .ascii, color: false)
}
