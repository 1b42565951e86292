/// Colours the console uses. The painter maps them to terminal colours, or ignores them on a
/// monochrome terminal, so nothing on screen may depend on colour alone.
public enum ConsoleColor: Int, Hashable, Sendable, CaseIterable {
    case none = 0, red, green, yellow, blue, magenta, cyan, white
}

/// The look of one cell, in our own terms rather than curses attributes, so that rendering can be
/// tested without a terminal.
public struct CellStyle: Hashable, Sendable {
    public var color: ConsoleColor
    public var bold: Bool
    public var reverse: Bool
    public var dim: Bool
    public init(color: ConsoleColor = .none, bold: Bool = false, reverse: Bool = false, dim: Bool = false) {
        self.color = color; self.bold = bold; self.reverse = reverse; self.dim = dim
    }
    public static let plain = CellStyle()
    public static let bold = CellStyle(bold: true)
    public static let reverse = CellStyle(reverse: true)
    public static let dim = CellStyle(dim: true)
    public static func color(_ c: ConsoleColor, bold: Bool = false) -> CellStyle { CellStyle(color: c, bold: bold) }
}

public struct Cell: Hashable, Sendable {
    public var character: Character
    public var style: CellStyle
    public init(_ character: Character, _ style: CellStyle = .plain) { self.character = character; self.style = style }
    public static let blank = Cell(" ")
}

public struct GridSize: Hashable, Sendable, CustomStringConvertible {
    public var width: Int
    public var height: Int
    public init(width: Int, height: Int) { self.width = max(0, width); self.height = max(0, height) }
    public var description: String { "\(width)x\(height)" }
}

/// A screen's worth of cells: what `render` produces and the painter copies to the terminal.
/// Every write is clipped, so callers never need to check bounds.
public struct TextGrid: Hashable, Sendable {
    public let size: GridSize
    public private(set) var cells: [Cell]

    public init(size: GridSize) {
        self.size = size
        cells = Array(repeating: .blank, count: size.width * size.height)
    }

    public var width: Int { size.width }
    public var height: Int { size.height }

    public subscript(x: Int, y: Int) -> Cell {
        get { cells[y * size.width + x] }
        set {
            guard x >= 0, y >= 0, x < size.width, y < size.height else { return }
            cells[y * size.width + x] = newValue
        }
    }

    /// Writes `text` from (x, y), stopping at `limit` cells (or the right edge). Control characters
    /// become `?` so a hostile name cannot move the terminal's cursor. Returns the x after the text.
    @discardableResult
    public mutating func put(_ text: String, x: Int, y: Int, style: CellStyle = .plain, limit: Int? = nil) -> Int {
        guard y >= 0, y < size.height else { return x }
        let end = min(size.width, limit.map { x + max(0, $0) } ?? size.width)
        var col = x
        for ch in text {
            if col >= end { break }
            if col >= 0 {
                let safe: Character = ch.unicodeScalars.allSatisfy({ $0.value >= 0x20 && $0.value != 0x7f }) ? ch : "?"
                cells[y * size.width + col] = Cell(safe, style)
            }
            col += 1
        }
        return col
    }

    /// Fills a rectangle with one character and style.
    public mutating func fill(x: Int, y: Int, width: Int, height: Int, with cell: Cell = .blank) {
        let x0 = max(0, x), y0 = max(0, y)
        let x1 = min(size.width, x + width), y1 = min(size.height, y + height)
        guard x0 < x1, y0 < y1 else { return }
        for row in y0..<y1 {
            for col in x0..<x1 { cells[row * size.width + col] = cell }
        }
    }

    /// Applies a style to a rectangle without changing its characters (selection highlight).
    public mutating func restyle(x: Int, y: Int, width: Int, height: Int = 1, _ change: (inout CellStyle) -> Void) {
        let x0 = max(0, x), y0 = max(0, y)
        let x1 = min(size.width, x + width), y1 = min(size.height, y + height)
        guard x0 < x1, y0 < y1 else { return }
        for row in y0..<y1 {
            for col in x0..<x1 { change(&cells[row * size.width + col].style) }
        }
    }

    /// One row as text, trailing spaces kept so rows line up in snapshots.
    public func line(_ y: Int) -> String {
        var s = ""
        s.reserveCapacity(size.width)
        for x in 0..<size.width { s.append(cells[y * size.width + x].character) }
        return s
    }

    /// The cells of one row, for painters that compare rows to repaint only changed ones.
    public func row(_ y: Int) -> ArraySlice<Cell> { cells[(y * size.width)..<((y + 1) * size.width)] }

    /// The whole grid as text, one line per row with trailing spaces trimmed: the snapshot format.
    public var text: String {
        (0..<size.height).map { y -> String in
            var l = line(y)
            while l.last == " " { l.removeLast() }
            return l
        }.joined(separator: "\n")
    }
}
