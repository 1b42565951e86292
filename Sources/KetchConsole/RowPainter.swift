/// The painter's arithmetic without a terminal: which rows changed since the last frame, split
/// into runs of equally styled text. `ketch-tui` hands each run to curses; the bench and tests
/// hand them to a buffer.
public enum RowPainter {
    /// One piece of a row to draw: start column, text, style.
    public struct Run: Hashable, Sendable {
        public var y: Int
        public var x: Int
        public var scalars: [Unicode.Scalar]
        public var style: CellStyle
    }

    /// Calls `put` for every run of every row that differs from `previous` (all rows when there
    /// is no previous frame or its size differs). Returns how many rows changed.
    @discardableResult
    public static func paint(_ grid: TextGrid, over previous: TextGrid?, put: (_ y: Int, _ x: Int, _ scalars: [Unicode.Scalar], _ style: CellStyle) -> Void) -> Int {
        let same = previous?.size == grid.size
        var painted = 0
        var run: [Unicode.Scalar] = []
        run.reserveCapacity(grid.width)
        for y in 0..<grid.height {
            let row = grid.row(y)
            if same, let previous, previous.row(y) == row { continue }
            painted += 1
            var start = 0, style = row.first?.style ?? .plain
            run.removeAll(keepingCapacity: true)
            var x = 0
            for cell in row {
                if cell.style != style {
                    put(y, start, run, style)
                    run.removeAll(keepingCapacity: true)
                    start = x; style = cell.style
                }
                // One scalar per cell: the grid never holds combining sequences wider than a cell.
                run.append(cell.character.unicodeScalars.first ?? " ")
                x += 1
            }
            if !run.isEmpty { put(y, start, run, style) }
        }
        return painted
    }
}
